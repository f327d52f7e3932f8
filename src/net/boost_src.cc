// The one translation unit that compiles Boost.Asio and Boost.Beast (separate compilation), so the
// rest of the tree only instantiates the templates it uses.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
