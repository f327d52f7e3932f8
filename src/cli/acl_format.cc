#include "cli/acl_format.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "cli/go_json.h"
#include "core/base64.h"
#include "core/duration.h"
#include "core/strings.h"

namespace gangway::cli {
namespace {

using json = nlohmann::json;
using ordered = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Go structs

enum class Kind {
  kString,
  kBool,
  kUint,
  kDuration,  // time.Duration: integer nanoseconds
  kStrings,
  kBytes,    // []byte: base64 text
  kTime,     // time.Time: never omitted, zero time when absent
  kTimePtr,  // *time.Time
  kLinks,    // []{ID, Name}
  kServiceIdentities,
  kNodeIdentities,
  kTemplatedPolicies,
  kPolicies,  // []ACLPolicy
  kRoles,     // []ACLRole
};

struct Field {
  const char* name;
  Kind kind;
  bool omitempty = false;
};

// Declaration order of the Go API client's structs (api/acl.go).
const std::vector<Field>& Fields(AclStruct s) {
  static const std::vector<Field> kToken = {
      {"CreateIndex", Kind::kUint},
      {"ModifyIndex", Kind::kUint},
      {"AccessorID", Kind::kString},
      {"SecretID", Kind::kString},
      {"Description", Kind::kString},
      {"Policies", Kind::kLinks, true},
      {"Roles", Kind::kLinks, true},
      {"ServiceIdentities", Kind::kServiceIdentities, true},
      {"NodeIdentities", Kind::kNodeIdentities, true},
      {"TemplatedPolicies", Kind::kTemplatedPolicies, true},
      {"Local", Kind::kBool},
      {"AuthMethod", Kind::kString, true},
      {"ExpirationTTL", Kind::kDuration, true},
      {"ExpirationTime", Kind::kTimePtr, true},
      {"CreateTime", Kind::kTime},
      {"Hash", Kind::kBytes, true},
      {"Namespace", Kind::kString, true},
      {"Partition", Kind::kString, true},
      {"AuthMethodNamespace", Kind::kString, true},
  };
  static const std::vector<Field> kTokenListEntry = {
      {"CreateIndex", Kind::kUint},
      {"ModifyIndex", Kind::kUint},
      {"AccessorID", Kind::kString},
      {"SecretID", Kind::kString},
      {"Description", Kind::kString},
      {"Policies", Kind::kLinks, true},
      {"Roles", Kind::kLinks, true},
      {"ServiceIdentities", Kind::kServiceIdentities, true},
      {"NodeIdentities", Kind::kNodeIdentities, true},
      {"TemplatedPolicies", Kind::kTemplatedPolicies, true},
      {"Local", Kind::kBool},
      {"AuthMethod", Kind::kString, true},
      {"ExpirationTime", Kind::kTimePtr, true},
      {"CreateTime", Kind::kTime},
      {"Hash", Kind::kBytes},
      {"Namespace", Kind::kString, true},
      {"Partition", Kind::kString, true},
      {"AuthMethodNamespace", Kind::kString, true},
  };
  static const std::vector<Field> kTokenExpanded = [] {
    std::vector<Field> f = kToken;
    f.push_back({"ExpandedPolicies", Kind::kPolicies});
    f.push_back({"ExpandedRoles", Kind::kRoles});
    f.push_back({"NamespaceDefaultPolicyIDs", Kind::kStrings});
    f.push_back({"NamespaceDefaultRoleIDs", Kind::kStrings});
    f.push_back({"AgentACLDefaultPolicy", Kind::kString});
    f.push_back({"AgentACLDownPolicy", Kind::kString});
    f.push_back({"ResolvedByAgent", Kind::kString});
    return f;
  }();
  static const std::vector<Field> kPolicy = {
      {"ID", Kind::kString},
      {"Name", Kind::kString},
      {"Description", Kind::kString},
      {"Rules", Kind::kString},
      {"Datacenters", Kind::kStrings},
      {"Hash", Kind::kBytes},
      {"CreateIndex", Kind::kUint},
      {"ModifyIndex", Kind::kUint},
      {"Namespace", Kind::kString, true},
      {"Partition", Kind::kString, true},
  };
  static const std::vector<Field> kPolicyListEntry = {
      {"ID", Kind::kString},
      {"Name", Kind::kString},
      {"Description", Kind::kString},
      {"Datacenters", Kind::kStrings},
      {"Hash", Kind::kBytes},
      {"CreateIndex", Kind::kUint},
      {"ModifyIndex", Kind::kUint},
      {"Namespace", Kind::kString, true},
      {"Partition", Kind::kString, true},
  };
  static const std::vector<Field> kRole = {
      {"ID", Kind::kString},
      {"Name", Kind::kString},
      {"Description", Kind::kString},
      {"Policies", Kind::kLinks, true},
      {"ServiceIdentities", Kind::kServiceIdentities, true},
      {"NodeIdentities", Kind::kNodeIdentities, true},
      {"TemplatedPolicies", Kind::kTemplatedPolicies, true},
      {"Hash", Kind::kBytes},
      {"CreateIndex", Kind::kUint},
      {"ModifyIndex", Kind::kUint},
      {"Namespace", Kind::kString, true},
      {"Partition", Kind::kString, true},
  };
  switch (s) {
    case AclStruct::kToken:
      return kToken;
    case AclStruct::kTokenListEntry:
      return kTokenListEntry;
    case AclStruct::kTokenExpanded:
      return kTokenExpanded;
    case AclStruct::kPolicy:
      return kPolicy;
    case AclStruct::kPolicyListEntry:
      return kPolicyListEntry;
    case AclStruct::kRole:
      return kRole;
  }
  return kToken;
}

const json* Member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string Str(const json& object, const char* key) {
  const json* v = Member(object, key);
  if (v == nullptr) return "";
  if (v->is_string()) return v->get<std::string>();
  return v->dump();
}

bool Bool(const json& object, const char* key) {
  const json* v = Member(object, key);
  return v != nullptr && v->is_boolean() && v->get<bool>();
}

const json& Array(const json& object, const char* key) {
  static const json kEmpty = json::array();
  const json* v = Member(object, key);
  return v != nullptr && v->is_array() ? *v : kEmpty;
}

// Go's RFC3339Nano: the fraction without trailing zeros.
std::string GoTimeJson(std::string t) {
  auto dot = t.find('.');
  if (dot == std::string::npos) return t;
  auto end = t.find_first_not_of("0123456789", dot + 1);
  if (end == std::string::npos) return t;
  auto last = end;
  while (last > dot + 1 && t[last - 1] == '0') --last;
  if (last == dot + 1) last = dot;
  return t.erase(last, end - last);
}

ordered Strings(const json* v) {
  if (v == nullptr || !v->is_array()) return nullptr;
  ordered out = ordered::array();
  for (const auto& s : *v) out.push_back(s.is_string() ? s.get<std::string>() : s.dump());
  return out;
}

ordered Convert(const json* v, Kind kind);

ordered Element(const json& e, Kind kind) {
  ordered o = ordered::object();
  switch (kind) {
    case Kind::kLinks:
      o["ID"] = Str(e, "ID");
      o["Name"] = Str(e, "Name");
      break;
    case Kind::kServiceIdentities: {
      o["ServiceName"] = Str(e, "ServiceName");
      ordered dcs = Strings(Member(e, "Datacenters"));
      if (dcs.is_array() && !dcs.empty()) o["Datacenters"] = dcs;
      break;
    }
    case Kind::kNodeIdentities:
      o["NodeName"] = Str(e, "NodeName");
      o["Datacenter"] = Str(e, "Datacenter");
      break;
    case Kind::kTemplatedPolicies: {
      o["TemplateName"] = Str(e, "TemplateName");
      if (const json* vars = Member(e, "TemplateVariables"); vars != nullptr) {
        o["TemplateVariables"] = ordered{{"Name", Str(*vars, "Name")}};
      }
      ordered dcs = Strings(Member(e, "Datacenters"));
      if (dcs.is_array() && !dcs.empty()) o["Datacenters"] = dcs;
      break;
    }
    case Kind::kPolicies:
      return AsGoStruct(e, AclStruct::kPolicy);
    case Kind::kRoles:
      return AsGoStruct(e, AclStruct::kRole);
    default:
      break;
  }
  return o;
}

ordered Convert(const json* v, Kind kind) {
  switch (kind) {
    case Kind::kString:
      if (v == nullptr) return "";
      return v->is_string() ? v->get<std::string>() : v->dump();
    case Kind::kBool:
      return v != nullptr && v->is_boolean() && v->get<bool>();
    case Kind::kUint:
      if (v != nullptr && v->is_number_unsigned()) return v->get<uint64_t>();
      if (v != nullptr && v->is_number_integer() && v->get<int64_t>() >= 0) {
        return static_cast<uint64_t>(v->get<int64_t>());
      }
      return 0;
    case Kind::kDuration:
      if (v != nullptr && v->is_number_integer()) return v->get<int64_t>();
      if (v != nullptr && v->is_string()) {
        auto d = ParseDuration(v->get<std::string>());
        if (d.ok()) return static_cast<int64_t>(d->count());
      }
      return 0;
    case Kind::kStrings:
      return Strings(v);
    case Kind::kBytes:
      if (v == nullptr || !v->is_string()) return nullptr;
      return v->get<std::string>();
    case Kind::kTime:
      if (v == nullptr || !v->is_string()) return "0001-01-01T00:00:00Z";
      return GoTimeJson(v->get<std::string>());
    case Kind::kTimePtr:
      if (v == nullptr || !v->is_string()) return nullptr;
      return GoTimeJson(v->get<std::string>());
    default: {
      if (v == nullptr || !v->is_array()) return nullptr;
      ordered out = ordered::array();
      for (const auto& e : *v) out.push_back(Element(e, kind));
      return out;
    }
  }
}

bool IsEmpty(const ordered& v) {
  if (v.is_null()) return true;
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  if (v.is_boolean()) return !v.get<bool>();
  if (v.is_number_unsigned()) return v.get<uint64_t>() == 0;
  if (v.is_number_integer()) return v.get<int64_t>() == 0;
  if (v.is_array()) return v.empty();
  return false;
}

// ---------------------------------------------------------------------------------------------
// Pretty layouts

// Go's %x of a []byte: the Hash the API gives as base64, in lower-case hex.
std::string HashHex(const json& object) {
  auto raw = Base64Decode(Str(object, "Hash"));
  if (!raw.ok()) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : *raw) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

std::string Join(const json& strings, const char* sep) {
  std::string out;
  for (const auto& s : strings) {
    if (!out.empty()) out += sep;
    out += s.is_string() ? s.get<std::string>() : s.dump();
  }
  return out;
}

// "   web (Datacenters: dc1, dc2)" lines under a "Service Identities:" heading, and the node and
// templated-policy forms, indented by `indent` (the list layouts nest them one level deeper).
void Identities(std::string* out, const json& object, const std::string& indent) {
  const std::string in = indent + "   ";
  if (const json& ids = Array(object, "ServiceIdentities"); !ids.empty()) {
    *out += indent + "Service Identities:\n";
    for (const auto& id : ids) {
      const json& dcs = Array(id, "Datacenters");
      *out += in + Str(id, "ServiceName") +
              " (Datacenters: " + (dcs.empty() ? std::string("all") : Join(dcs, ", ")) + ")\n";
    }
  }
  if (const json& ids = Array(object, "NodeIdentities"); !ids.empty()) {
    *out += indent + "Node Identities:\n";
    for (const auto& id : ids) {
      *out += in + Str(id, "NodeName") + " (Datacenter: " + Str(id, "Datacenter") + ")\n";
    }
  }
  if (const json& tps = Array(object, "TemplatedPolicies"); !tps.empty()) {
    *out += indent + "Templated Policies:\n";
    for (const auto& tp : tps) {
      *out += in + Str(tp, "TemplateName") + "\n";
      if (const json* vars = Member(tp, "TemplateVariables");
          vars != nullptr && !Str(*vars, "Name").empty()) {
        *out += in + "   Name: " + Str(*vars, "Name") + "\n";
      }
      const json& dcs = Array(tp, "Datacenters");
      *out += in + "   Datacenters: " + (dcs.empty() ? std::string("all") : Join(dcs, ", ")) + "\n";
    }
  }
}

void Links(std::string* out, const json& object, const char* key, const char* heading,
           const std::string& indent) {
  const json& links = Array(object, key);
  if (links.empty()) return;
  *out += indent + heading + "\n";
  for (const auto& l : links) *out += indent + "   " + Str(l, "ID") + " - " + Str(l, "Name") + "\n";
}

// The lines every token layout starts with, up to the meta block.
std::string TokenHeader(const json& t, bool show_meta) {
  std::string out;
  out += "AccessorID:       " + Str(t, "AccessorID") + "\n";
  out += "SecretID:         " + Str(t, "SecretID") + "\n";
  if (!Str(t, "Partition").empty()) out += "Partition:        " + Str(t, "Partition") + "\n";
  if (!Str(t, "Namespace").empty()) out += "Namespace:        " + Str(t, "Namespace") + "\n";
  out += "Description:      " + Str(t, "Description") + "\n";
  out += std::string("Local:            ") + (Bool(t, "Local") ? "true" : "false") + "\n";
  if (!Str(t, "AuthMethod").empty()) {
    out += "Auth Method:      " + Str(t, "AuthMethod") +
           " (Namespace: " + Str(t, "AuthMethodNamespace") + ")\n";
  }
  const json* created = Member(t, "CreateTime");
  out += "Create Time:      " +
         GoTimeString(created != nullptr && created->is_string() ? created->get<std::string>()
                                                                 : "0001-01-01T00:00:00Z") +
         "\n";
  const std::string expires = Str(t, "ExpirationTime");
  if (!expires.empty() && !StartsWith(expires, "0001-01-01T00:00:00")) {
    out += "Expiration Time:  " + GoTimeString(expires) + "\n";
  }
  if (show_meta) {
    out += "Hash:             " + HashHex(t) + "\n";
    out += "Create Index:     " + Convert(Member(t, "CreateIndex"), Kind::kUint).dump() + "\n";
    out += "Modify Index:     " + Convert(Member(t, "ModifyIndex"), Kind::kUint).dump() + "\n";
  }
  return out;
}

std::string PrettyToken(const json& t, bool show_meta) {
  std::string out = TokenHeader(t, show_meta);
  Links(&out, t, "Policies", "Policies:", "");
  Links(&out, t, "Roles", "Roles:", "");
  Identities(&out, t, "");
  return out;
}

std::string PrettyPolicy(const json& p, bool show_meta) {
  std::string out;
  out += "ID:           " + Str(p, "ID") + "\n";
  out += "Name:         " + Str(p, "Name") + "\n";
  if (!Str(p, "Namespace").empty()) out += "Namespace:    " + Str(p, "Namespace") + "\n";
  out += "Description:  " + Str(p, "Description") + "\n";
  out += "Datacenters:  " + Join(Array(p, "Datacenters"), ", ") + "\n";
  if (show_meta) {
    out += "Hash:         " + HashHex(p) + "\n";
    out += "Create Index: " + Convert(Member(p, "CreateIndex"), Kind::kUint).dump() + "\n";
    out += "Modify Index: " + Convert(Member(p, "ModifyIndex"), Kind::kUint).dump() + "\n";
  }
  out += "Rules:\n" + Str(p, "Rules");
  return out;
}

std::string PrettyPolicyListEntry(const json& p, bool show_meta) {
  std::string out = Str(p, "Name") + ":\n";
  out += "   ID:           " + Str(p, "ID") + "\n";
  if (!Str(p, "Namespace").empty()) out += "   Namespace:    " + Str(p, "Namespace") + "\n";
  out += "   Description:  " + Str(p, "Description") + "\n";
  out += "   Datacenters:  " + Join(Array(p, "Datacenters"), ", ") + "\n";
  if (show_meta) {
    out += "   Hash:         " + HashHex(p) + "\n";
    out += "   Create Index: " + Convert(Member(p, "CreateIndex"), Kind::kUint).dump() + "\n";
    out += "   Modify Index: " + Convert(Member(p, "ModifyIndex"), Kind::kUint).dump() + "\n";
  }
  return out;
}

// A role, flush left (read) or as a list entry under its name (list).
std::string PrettyRole(const json& r, bool show_meta, bool entry) {
  const std::string in = entry ? "   " : "";
  std::string out =
      entry ? Str(r, "Name") + ":\n" + in + "ID:           " + Str(r, "ID") + "\n"
            : "ID:           " + Str(r, "ID") + "\nName:         " + Str(r, "Name") + "\n";
  if (!Str(r, "Partition").empty()) out += in + "Partition:    " + Str(r, "Partition") + "\n";
  if (!Str(r, "Namespace").empty()) out += in + "Namespace:    " + Str(r, "Namespace") + "\n";
  out += in + "Description:  " + Str(r, "Description") + "\n";
  if (show_meta) {
    out += in + "Hash:         " + HashHex(r) + "\n";
    out += in + "Create Index: " + Convert(Member(r, "CreateIndex"), Kind::kUint).dump() + "\n";
    out += in + "Modify Index: " + Convert(Member(r, "ModifyIndex"), Kind::kUint).dump() + "\n";
  }
  Links(&out, r, "Policies", "Policies:", in);
  Identities(&out, r, in);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Expanded token: every policy and role the token draws on, with their rules, then the agent's
// defaults. Layers and indentation (tabs) as Consul's FormatTokenExpanded.

constexpr char kTab[] = "\t";
constexpr char kTab2[] = "\t\t";

std::string Indented(const std::string& rules, const std::string& indent) {
  std::string out;
  for (char c : rules) {
    out += c;
    if (c == '\n') out += indent;
  }
  return out;
}

// The synthetic policies behind identities (the rules the servers grant, reference §5.1).
std::string ServiceIdentityRules(const std::string& name) {
  return "\nservice \"" + name + "\" {\n\tpolicy = \"write\"\n}\nservice \"" + name +
         "-sidecar-proxy\" {\n\tpolicy = \"write\"\n}\nservice_prefix \"\" {\n\tpolicy = "
         "\"read\"\n}\nnode_prefix \"\" {\n\tpolicy = \"read\"\n}";
}
std::string NodeIdentityRules(const std::string& name) {
  return "\nnode \"" + name +
         "\" {\n\tpolicy = \"write\"\n}\nservice_prefix \"\" {\n\tpolicy = "
         "\"read\"\n}";
}

class ExpandedWriter {
 public:
  explicit ExpandedWriter(const json& t) {
    for (const auto& p : Array(t, "ExpandedPolicies")) policies_[Str(p, "ID")] = p;
    for (const auto& r : Array(t, "ExpandedRoles")) roles_[Str(r, "ID")] = r;
  }

  void Policy(std::string* out, const std::string& id, const std::string& indent) {
    const json& p = Lookup(policies_, id);
    *out += indent + "Policy Name: " + Str(p, "Name") + "\n";
    *out += indent + kTab + "ID: " + Str(p, "ID") + "\n";
    *out += indent + kTab + "Description: " + Str(p, "Description") + "\n";
    *out += indent + kTab + "Rules:\n" + indent + kTab2 +
            Indented(Str(p, "Rules"), indent + kTab2) + "\n\n";
  }

  void Synthetic(std::string* out, const std::string& description, const std::string& rules,
                 const std::string& indent) {
    *out += indent + kTab + "Description: " + description + "\n";
    *out += indent + kTab + "Rules:" + Indented(rules, indent + kTab2) + "\n\n";
  }

  void ServiceIdentity(std::string* out, const json& id, const std::string& indent) {
    const json& dcs = Array(id, "Datacenters");
    const std::string name = Str(id, "ServiceName");
    *out += indent + "Name: " + name +
            " (Datacenters: " + (dcs.empty() ? std::string("all") : Join(dcs, ", ")) + ")\n";
    Synthetic(out, "synthetic policy for service identity \"" + name + "\"",
              ServiceIdentityRules(name), indent);
  }

  void NodeIdentity(std::string* out, const json& id, const std::string& indent) {
    const std::string name = Str(id, "NodeName");
    *out += indent + "Name: " + name + " (Datacenter: " + Str(id, "Datacenter") + ")\n";
    Synthetic(out, "synthetic policy for node identity \"" + name + "\"", NodeIdentityRules(name),
              indent);
  }

  void Role(std::string* out, const std::string& id, const std::string& indent) {
    const json& r = Lookup(roles_, id);
    *out += indent + "Role Name: " + Str(r, "Name") + "\n";
    *out += indent + kTab + "ID: " + Str(r, "ID") + "\n";
    *out += indent + kTab + "Description: " + Str(r, "Description") + "\n";
    if (const json& ps = Array(r, "Policies"); !ps.empty()) {
      *out += indent + kTab + "Policies:\n";
      for (const auto& l : ps) Policy(out, Str(l, "ID"), indent + kTab2);
    }
    if (const json& ids = Array(r, "ServiceIdentities"); !ids.empty()) {
      *out += indent + kTab + "Service Identities:\n";
      for (const auto& id : ids) ServiceIdentity(out, id, indent + kTab2);
    }
    if (const json& ids = Array(r, "NodeIdentities"); !ids.empty()) {
      *out += indent + kTab + "Node Identities:\n";
      for (const auto& id : ids) NodeIdentity(out, id, indent + kTab2);
    }
  }

 private:
  static const json& Lookup(const std::map<std::string, json>& m, const std::string& id) {
    static const json kEmpty = json::object();
    auto it = m.find(id);
    return it == m.end() ? kEmpty : it->second;
  }

  std::map<std::string, json> policies_;
  std::map<std::string, json> roles_;
};

std::string PrettyTokenExpanded(const json& t, bool show_meta) {
  std::string out = TokenHeader(t, show_meta);
  ExpandedWriter w(t);
  if (const json& ps = Array(t, "Policies"); !ps.empty()) {
    out += "Policies:\n";
    for (const auto& l : ps) w.Policy(&out, Str(l, "ID"), kTab);
  }
  if (const json& ids = Array(t, "ServiceIdentities"); !ids.empty()) {
    out += "Service Identities:\n";
    for (const auto& id : ids) w.ServiceIdentity(&out, id, kTab);
  }
  if (const json& ids = Array(t, "NodeIdentities"); !ids.empty()) {
    out += "Node Identities:\n";
    for (const auto& id : ids) w.NodeIdentity(&out, id, kTab);
  }
  if (const json& rs = Array(t, "Roles"); !rs.empty()) {
    out += "Roles:\n";
    for (const auto& l : rs) w.Role(&out, Str(l, "ID"), kTab);
  }
  out += "=== End of Authorizer Layer 0: Token ===\n";
  const json& ns_policies = Array(t, "NamespaceDefaultPolicyIDs");
  const json& ns_roles = Array(t, "NamespaceDefaultRoleIDs");
  if (!ns_policies.empty() || !ns_roles.empty()) {
    out += "=== Start of Authorizer Layer 1: Token Namespace\u2019s Defaults (Inherited) ===\n";
    out += "Description: ACL Roles inherited by all Tokens in Namespace \"" + Str(t, "Namespace") +
           "\"\n\n";
    out += "Namespace Policy Defaults:\n";
    for (const auto& id : ns_policies)
      w.Policy(&out, id.is_string() ? id.get<std::string>() : "", kTab);
    out += "Namespace Role Defaults:\n";
    for (const auto& id : ns_roles) w.Role(&out, id.is_string() ? id.get<std::string>() : "", kTab);
    out += "=== End of Authorizer Layer 1: Token Namespace\u2019s Defaults (Inherited) ===\n";
  }
  out += "=== Start of Authorizer Layer 2: Agent Configuration Defaults (Inherited) ===\n";
  out +=
      "Description: Defined at request-time by the agent that resolves the ACL token; other "
      "agents may have different configuration defaults\n";
  out += "Resolved By Agent: \"" + Str(t, "ResolvedByAgent") + "\"\n\n";
  out += "Default Policy: " + Str(t, "AgentACLDefaultPolicy") + "\n";
  out += std::string(kTab) +
         "Description: Backstop rule used if no preceding layer has a matching rule (refer to "
         "default_policy option in agent configuration)\n\n";
  out += "Down Policy: " + Str(t, "AgentACLDownPolicy") + "\n";
  out += std::string(kTab) +
         "Description: Defines what to do if this Token's information cannot be read from the "
         "primary_datacenter (refer to down_policy option in agent configuration)\n\n";
  return out;
}

std::string JsonList(const json& list, AclStruct kind) {
  if (!list.is_array()) return "null";
  ordered out = ordered::array();
  for (const auto& e : list) out.push_back(AsGoStruct(e, kind));
  return GoMarshal(out, "    ");
}

}  // namespace

Result<AclFormat> ParseAclFormat(const std::string& text) {
  if (text == "pretty") return AclFormat::kPretty;
  if (text == "json") return AclFormat::kJson;
  return InvalidArgument("Unknown format: " + text);
}

nlohmann::ordered_json AsGoStruct(const nlohmann::json& object, AclStruct kind) {
  ordered out = ordered::object();
  for (const Field& f : Fields(kind)) {
    ordered v = Convert(Member(object, f.name), f.kind);
    if (f.omitempty && IsEmpty(v)) continue;
    out[f.name] = std::move(v);
  }
  return out;
}

std::string FormatToken(const json& token, AclFormat format, bool show_meta) {
  if (format == AclFormat::kJson) return GoMarshal(AsGoStruct(token, AclStruct::kToken), "    ");
  return PrettyToken(token, show_meta);
}

std::string FormatTokenExpanded(const json& token, AclFormat format, bool show_meta) {
  if (format == AclFormat::kJson) {
    return GoMarshal(AsGoStruct(token, AclStruct::kTokenExpanded), "    ");
  }
  return PrettyTokenExpanded(token, show_meta);
}

std::string FormatTokenList(const json& tokens, AclFormat format, bool show_meta) {
  if (format == AclFormat::kJson) return JsonList(tokens, AclStruct::kTokenListEntry);
  std::string out;
  bool first = true;
  for (const auto& t : tokens.is_array() ? tokens : json::array()) {
    if (!first) out += "\n";
    first = false;
    out += PrettyToken(t, show_meta);
  }
  return out;
}

std::string FormatPolicy(const json& policy, AclFormat format, bool show_meta) {
  if (format == AclFormat::kJson) return GoMarshal(AsGoStruct(policy, AclStruct::kPolicy), "    ");
  return PrettyPolicy(policy, show_meta);
}

std::string FormatPolicyList(const json& policies, AclFormat format, bool show_meta) {
  if (format == AclFormat::kJson) return JsonList(policies, AclStruct::kPolicyListEntry);
  std::string out;
  for (const auto& p : policies.is_array() ? policies : json::array()) {
    out += PrettyPolicyListEntry(p, show_meta);
  }
  return out;
}

std::string FormatRole(const json& role, AclFormat format, bool show_meta) {
  if (format == AclFormat::kJson) return GoMarshal(AsGoStruct(role, AclStruct::kRole), "    ");
  return PrettyRole(role, show_meta, false);
}

std::string FormatRoleList(const json& roles, AclFormat format, bool show_meta) {
  if (format == AclFormat::kJson) return JsonList(roles, AclStruct::kRole);
  std::string out;
  for (const auto& r : roles.is_array() ? roles : json::array()) {
    out += PrettyRole(r, show_meta, true);
  }
  return out;
}

std::string GoTimeString(const std::string& t) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  auto digits = [&](size_t from, size_t n) {
    if (from + n > t.size()) return false;
    for (size_t i = from; i < from + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return false;
    }
    return true;
  };
  if (!digits(0, 4) || t.size() < 20 || t[4] != '-' || !digits(5, 2) || t[7] != '-' ||
      !digits(8, 2) || (t[10] != 'T' && t[10] != 't') || !digits(11, 2) || t[13] != ':' ||
      !digits(14, 2) || t[16] != ':' || !digits(17, 2)) {
    return t;
  }
  size_t i = 19;
  std::string frac;
  if (i < t.size() && t[i] == '.') {
    size_t j = i + 1;
    while (j < t.size() && t[j] >= '0' && t[j] <= '9') ++j;
    frac = t.substr(i + 1, j - i - 1);
    i = j;
  }
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  std::string zone;
  if (i + 1 == t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    zone = "+0000 UTC";
  } else if (i + 6 == t.size() && (t[i] == '+' || t[i] == '-') && digits(i + 1, 2) &&
             t[i + 3] == ':' && digits(i + 4, 2)) {
    // Go names a parsed fixed offset by the offset itself.
    std::string off = t.substr(i, 3) + t.substr(i + 4, 2);
    if (off == "-0000") off = "+0000";
    zone = off + " " + off;
  } else {
    return t;
  }
  return t.substr(0, 10) + " " + t.substr(11, 8) + (frac.empty() ? "" : "." + frac) + " " + zone;
}

Result<json> ParseServiceIdentities(const std::vector<std::string>& values) {
  json out = json::array();
  for (const auto& v : values) {
    auto parts = Split(v, ':');
    if (parts.size() == 1) {
      out.push_back({{"ServiceName", parts[0]}});
    } else if (parts.size() == 2) {
      out.push_back({{"ServiceName", parts[0]}, {"Datacenters", Split(parts[1], ',')}});
    } else {
      return InvalidArgument("Malformed -service-identity argument: \"" + v + "\"");
    }
  }
  return out;
}

Result<json> ParseNodeIdentities(const std::vector<std::string>& values) {
  json out = json::array();
  for (const auto& v : values) {
    auto parts = Split(v, ':');
    if (parts.size() != 2) {
      return InvalidArgument("Malformed -node-identity argument: \"" + v + "\"");
    }
    out.push_back({{"NodeName", parts[0]}, {"Datacenter", parts[1]}});
  }
  return out;
}

Result<std::string> LoadDataSource(const std::string& value, std::istream& in) {
  if (value.empty()) return std::string();
  if (value[0] == '@') {
    const std::string path = value.substr(1);
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      std::string reason = std::strerror(errno);
      if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(reason[0]));
      return InvalidArgument("Failed to read file: open " + path + ": " + reason);
    }
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  if (value == "-") {
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) return InvalidArgument("Failed to read stdin");
    return s.str();
  }
  return value;
}

}  // namespace gangway::cli
