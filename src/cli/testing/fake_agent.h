// Test doubles for the CLI's commands: a process environment from a map, an agent that answers
// from canned routes and records every request, a harness that runs a command line against both,
// and a temporary file. Test code only; single-threaded.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command.h"

namespace gangway::cli {

inline GetEnv FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

struct FakeAgent {
  // "METHOD target" -> response; unmatched requests get 404.
  std::map<std::string, http::Response> routes;
  std::vector<http::ClientRequest> requests;
  bool refuse = false;

  void On(const std::string& key, int status, std::string body) {
    http::Response r;
    r.status = status;
    r.body = std::move(body);
    routes[key] = r;
  }
};

// Runs command lines against `agent` with `vars` as the environment and `in` as stdin.
struct Harness {
  FakeAgent agent;
  std::ostringstream out, err;
  std::istringstream in;
  std::map<std::string, std::string> vars;

  int Run(const std::vector<std::string>& args) {
    Environment env;
    env.out = &out;
    env.err = &err;
    env.in = &in;
    env.getenv = FakeEnv(vars);
    env.transport = [this](const http::ClientRequest& req) -> Result<http::Response> {
      agent.requests.push_back(req);
      if (agent.refuse) {
        return Unavailable("Error connecting to " + req.method + " http://" + req.host + ":" +
                           std::to_string(req.port) + req.target + ": Connection refused");
      }
      auto it = agent.routes.find(req.method + " " + req.target);
      if (it != agent.routes.end()) return it->second;
      http::Response r;
      r.status = 404;
      return r;
    };
    return RunWithEnvironment(args, env);
  }
  std::string Header(size_t i, const std::string& name) const {
    for (const auto& [k, v] : agent.requests.at(i).headers) {
      if (k == name) return v;
    }
    return "";
  }
};

// A file in the test's temporary directory, removed when the test ends.
struct TempFile {
  std::string path;
  TempFile(const std::string& name, const std::string& content)
      : path(::testing::TempDir() + name) {
    std::ofstream(path, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace gangway::cli
