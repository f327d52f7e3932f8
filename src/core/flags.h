// Go-style command-line flags, as Consul's commands parse them with Go's "flag" package: one or
// two dashes, "-name=value" or "-name value", booleans as "-name" or "-name=true", and parsing
// stops at the first non-flag argument (or after "--"). Shared by every entry point (the CLI's
// commands, the proxy process). A FlagSet belongs to one command run; single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gangway {

class FlagSet {
 public:
  // Sets a flag from its text; a non-ok Status makes Parse fail with Go's "invalid value" text.
  using Setter = std::function<Status(std::string_view)>;

  // Which block of the command's help a flag is listed in.
  enum class Group { kCommand, kHttp };

  FlagSet() = default;
  FlagSet(const FlagSet&) = delete;
  FlagSet& operator=(const FlagSet&) = delete;

  // Flags defined while `group` is in effect are listed under that heading in the help.
  void SetGroup(Group group) { group_ = group; }

  void Bool(std::string name, bool* target, std::string usage);
  // `value_name` names the value in the help ("-http-addr=<address>").
  void String(std::string name, std::string* target, std::string value_name, std::string usage);
  void Int(std::string name, int64_t* target, std::string value_name, std::string usage);
  void Uint(std::string name, uint64_t* target, std::string value_name, std::string usage);
  // Repeatable: every occurrence appends ("-tag a -tag b").
  void StringList(std::string name, std::vector<std::string>* target, std::string value_name,
                  std::string usage);
  void Custom(std::string name, bool is_bool, Setter setter, std::string value_name,
              std::string usage);

  // Parses `args` (the command's arguments, without the command's own name). On failure the
  // Status message is Go's text, e.g. "flag provided but not defined: -x".
  Status Parse(const std::vector<std::string>& args);

  // Arguments left after the flags.
  const std::vector<std::string>& Args() const { return args_; }
  // True when the flag appeared on the command line (even with its default value).
  bool IsSet(std::string_view name) const;

  // The "HTTP API Options" and "Command Options" blocks of a command's help.
  std::string Usage() const;

 private:
  struct Flag {
    std::string name;
    bool is_bool = false;
    Setter set;
    std::string value_name;
    std::string usage;
    Group group = Group::kCommand;
    bool seen = false;
  };
  Flag* Find(std::string_view name);
  void Add(Flag flag);

  std::vector<Flag> flags_;
  std::vector<std::string> args_;
  Group group_ = Group::kCommand;
};

// Go's strconv.ParseBool: 1, t, T, TRUE, true, True and the matching false forms.
bool ParseGoBool(std::string_view text, bool* out);
// Go's strconv.ParseInt/ParseUint with base 0: decimal, 0x hex, 0o or 0 octal, 0b binary (no '_'
// digit separators).
bool ParseGoInt(std::string_view text, int64_t* out);
bool ParseGoUint(std::string_view text, uint64_t* out);

}  // namespace gangway
