#include "core/flags.h"

#include <algorithm>
#include <limits>

namespace gangway {

namespace {

// Go's %q for the texts flags see (no control characters in practice; escape the two that matter).
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// Wraps `text` at 80 columns, each line indented by `indent` spaces (Consul's help layout).
std::string Wrap(std::string_view text, size_t indent) {
  constexpr size_t kWidth = 80;
  std::string out;
  std::string line(indent, ' ');
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find_first_of(" \n", i);
    if (j == std::string_view::npos) j = text.size();
    std::string_view word = text.substr(i, j - i);
    if (line.size() > indent && line.size() + 1 + word.size() > kWidth) {
      out += line + "\n";
      line.assign(indent, ' ');
    }
    if (line.size() > indent && !word.empty()) line.push_back(' ');
    line += word;
    if (j < text.size() && text[j] == '\n') {
      out += line + "\n";
      line.assign(indent, ' ');
    }
    i = j + 1;
  }
  if (line.size() > indent) out += line;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

int DigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

// Unsigned magnitude with Go's base-0 prefixes; false on syntax error or overflow.
bool ParseMagnitude(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  int base = 10;
  if (s.size() >= 2 && s[0] == '0') {
    char p = static_cast<char>(s[1] | 0x20);
    if (p == 'x') {
      base = 16;
      s.remove_prefix(2);
    } else if (p == 'o') {
      base = 8;
      s.remove_prefix(2);
    } else if (p == 'b') {
      base = 2;
      s.remove_prefix(2);
    } else {
      base = 8;
      s.remove_prefix(1);
    }
    if (s.empty()) return false;
  }
  uint64_t v = 0;
  for (char c : s) {
    int d = DigitValue(c);
    if (d >= base) return false;
    if (v > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(d)) / base) return false;
    v = v * base + static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

Status ParseError() { return InvalidArgument("parse error"); }

}  // namespace

bool ParseGoBool(std::string_view t, bool* out) {
  if (t == "1" || t == "t" || t == "T" || t == "true" || t == "TRUE" || t == "True") {
    *out = true;
    return true;
  }
  if (t == "0" || t == "f" || t == "F" || t == "false" || t == "FALSE" || t == "False") {
    *out = false;
    return true;
  }
  return false;
}

bool ParseGoUint(std::string_view text, uint64_t* out) {
  if (!text.empty() && text[0] == '+') return false;
  return ParseMagnitude(text, out);
}

bool ParseGoInt(std::string_view text, int64_t* out) {
  bool neg = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    neg = text[0] == '-';
    text.remove_prefix(1);
  }
  uint64_t mag = 0;
  if (!ParseMagnitude(text, &mag)) return false;
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (neg) {
    if (mag > kMax + 1) return false;
    *out = mag == kMax + 1 ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(mag);
  } else {
    if (mag > kMax) return false;
    *out = static_cast<int64_t>(mag);
  }
  return true;
}

void FlagSet::Add(Flag flag) {
  flag.group = group_;
  flags_.push_back(std::move(flag));
}

void FlagSet::Bool(std::string name, bool* target, std::string usage) {
  Custom(
      std::move(name), true,
      [target](std::string_view v) { return ParseGoBool(v, target) ? Status::Ok() : ParseError(); },
      "", std::move(usage));
}

void FlagSet::String(std::string name, std::string* target, std::string value_name,
                     std::string usage) {
  Custom(
      std::move(name), false,
      [target](std::string_view v) {
        target->assign(v);
        return Status::Ok();
      },
      std::move(value_name), std::move(usage));
}

void FlagSet::Int(std::string name, int64_t* target, std::string value_name, std::string usage) {
  Custom(
      std::move(name), false,
      [target](std::string_view v) { return ParseGoInt(v, target) ? Status::Ok() : ParseError(); },
      std::move(value_name), std::move(usage));
}

void FlagSet::Uint(std::string name, uint64_t* target, std::string value_name, std::string usage) {
  Custom(
      std::move(name), false,
      [target](std::string_view v) { return ParseGoUint(v, target) ? Status::Ok() : ParseError(); },
      std::move(value_name), std::move(usage));
}

void FlagSet::StringList(std::string name, std::vector<std::string>* target,
                         std::string value_name, std::string usage) {
  Custom(
      std::move(name), false,
      [target](std::string_view v) {
        target->emplace_back(v);
        return Status::Ok();
      },
      std::move(value_name), std::move(usage));
}

void FlagSet::Custom(std::string name, bool is_bool, Setter setter, std::string value_name,
                     std::string usage) {
  Flag f;
  f.name = std::move(name);
  f.is_bool = is_bool;
  f.set = std::move(setter);
  f.value_name = std::move(value_name);
  f.usage = std::move(usage);
  Add(std::move(f));
}

FlagSet::Flag* FlagSet::Find(std::string_view name) {
  for (auto& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool FlagSet::IsSet(std::string_view name) const {
  for (const auto& f : flags_) {
    if (f.name == name) return f.seen;
  }
  return false;
}

Status FlagSet::Parse(const std::vector<std::string>& args) {
  size_t i = 0;
  while (i < args.size()) {
    const std::string& s = args[i];
    if (s.size() < 2 || s[0] != '-') break;  // first positional argument ends the flags
    size_t dashes = 1;
    if (s[1] == '-') {
      dashes = 2;
      if (s.size() == 2) {  // "--" ends the flags and is consumed
        ++i;
        break;
      }
    }
    std::string name = s.substr(dashes);
    if (name.empty() || name[0] == '-' || name[0] == '=') {
      return InvalidArgument("bad flag syntax: " + s);
    }
    ++i;
    bool has_value = false;
    std::string value;
    if (size_t eq = name.find('=', 1); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    Flag* f = Find(name);
    if (f == nullptr) {
      if (name == "help" || name == "h") return InvalidArgument("flag: help requested");
      return InvalidArgument("flag provided but not defined: -" + name);
    }
    f->seen = true;
    if (f->is_bool) {
      if (!has_value) value = "true";
      if (Status st = f->set(value); !st.ok()) {
        return InvalidArgument("invalid boolean value " + Quote(value) + " for -" + name + ": " +
                               st.message());
      }
      continue;
    }
    if (!has_value) {
      if (i >= args.size()) return InvalidArgument("flag needs an argument: -" + name);
      value = args[i++];  // the next argument is the value, even when it starts with '-'
    }
    if (Status st = f->set(value); !st.ok()) {
      return InvalidArgument("invalid value " + Quote(value) + " for flag -" + name + ": " +
                             st.message());
    }
  }
  args_.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return Status::Ok();
}

std::string FlagSet::Usage() const {
  std::string out;
  auto block = [&](Group g, std::string_view title) {
    std::vector<const Flag*> fs;
    for (const auto& f : flags_) {
      if (f.group == g) fs.push_back(&f);
    }
    if (fs.empty()) return;
    std::sort(fs.begin(), fs.end(), [](const Flag* a, const Flag* b) { return a->name < b->name; });
    out += std::string(title) + "\n\n";
    for (const Flag* f : fs) {
      out += "  -" + f->name;
      if (!f->is_bool) out += "=<" + (f->value_name.empty() ? "value" : f->value_name) + ">";
      out += "\n" + Wrap(f->usage, 5) + "\n\n";
    }
  };
  block(Group::kHttp, "HTTP API Options");
  block(Group::kCommand, "Command Options");
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace gangway
