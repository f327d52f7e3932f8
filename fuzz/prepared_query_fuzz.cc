// Fuzz target for the prepared query body (POST/PUT /v1/query): decoded as Consul's lenient
// decoder does, validated as PreparedQuery.Apply does, and, for templates, compiled and rendered.
// Beyond "no crash", it checks what callers rely on: a decode failure is "Request decode
// failed: ..."; every message and rendering is valid UTF-8 JSON; a decoded query survives its
// JSON form unchanged; a template that compiles renders for any name.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/prepared_query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gangway::catalog;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto q = DecodePreparedQuery(body);
  if (!q.ok()) {
    if (q.status().message().rfind("Request decode failed: ", 0) != 0) std::abort();
    (void)Json(q.status().message()).dump();
    return 0;
  }
  Json form = PreparedQueryToJson(*q);
  (void)form.dump();
  auto again = PreparedQueryFromJson(form);
  if (!again.ok() || PreparedQueryToJson(*again) != form) std::abort();
  (void)PreparedQueryToJson(*q, /*hide_token=*/true).dump();
  if (gangway::Status v = ValidatePreparedQuery(*q); !v.ok()) {
    if (v.message().rfind("Invalid prepared query: ", 0) != 0) std::abort();
    (void)Json(v.message()).dump();
  }
  gangway::Status t = TemplateCheck(*q);
  (void)Json(t.message()).dump();
  if (t.ok() && !q->tmpl.type.empty()) {
    for (const std::string& name : {q->name, q->name + "-x-y", std::string("other")}) {
      auto r = RenderTemplate(*q, name, "seg");
      if (!r.ok()) std::abort();  // compiled templates render for any name
      (void)PreparedQueryToJson(*r).dump();
    }
  }
  std::vector<PreparedQuery> list = {*q};
  (void)ResolvePreparedQuery(list, q->name);
  (void)TagsMatch(q->service.tags, q->service.tags);
  return 0;
}
