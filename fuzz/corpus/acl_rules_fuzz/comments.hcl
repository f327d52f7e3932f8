# comment
// another
/* block
 comment */
operator = "read" # trailing
key_prefix "" { policy = "read" } // after
