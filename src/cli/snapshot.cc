// gangway snapshot save|restore|inspect (GET/PUT /v1/snapshot; inspect reads the file alone).
#include <fstream>
#include <sstream>

#include "cli/api_client.h"
#include "cli/command.h"
#include "core/flags.h"
#include "cli/table.h"
#include "codec/snapshot_archive.h"

namespace gangway::cli {

namespace {

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("open " + path + ": no such file or not readable");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class SnapshotCommand : public Command {
 public:
  enum class Mode { kSave, kRestore, kInspect };
  SnapshotCommand(Environment& env, Mode mode) : env_(env), mode_(mode) {
    if (mode_ != Mode::kInspect) http_.Register(&flags_, mode_ == Mode::kSave);
  }
  std::string Synopsis() const override {
    switch (mode_) {
      case Mode::kSave: return "Saves snapshot of Gangway server state";
      case Mode::kRestore: return "Restores snapshot of Gangway server state";
      case Mode::kInspect: return "Displays information about a Gangway snapshot file";
    }
    return "";
  }
  std::string Help() const override {
    const char* verb = mode_ == Mode::kSave ? "save" : mode_ == Mode::kRestore ? "restore" : "inspect";
    return std::string("Usage: gangway snapshot ") + verb + " [options] FILE\n\n  " + Synopsis() +
           ".\n\n" + flags_.Usage();
  }
  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (flags_.Args().size() != 1) {
      *env_.err << (flags_.Args().empty() ? "Missing FILE argument"
                                          : "Too many arguments (expected 1, got " +
                                                std::to_string(flags_.Args().size()) + ")")
                << "\n";
      return 1;
    }
    const std::string file = flags_.Args()[0];
    if (mode_ == Mode::kInspect) {
      auto bytes = ReadWholeFile(file);
      if (!bytes.ok()) return Fail(env_, "Error opening snapshot file: " + bytes.status().message());
      auto a = codec::DecodeSnapshotArchive(*bytes);
      if (!a.ok()) return Fail(env_, "Error inspecting snapshot: " + a.status().message());
      *env_.out << AlignPairs({{" ID", a->meta.id},
                               {" Size", std::to_string(a->meta.size)},
                               {" Index", std::to_string(a->meta.index)},
                               {" Term", std::to_string(a->meta.term)},
                               {" Version", std::to_string(a->meta.version)}},
                              1)
                << "\n";
      return 0;
    }
    auto client = NewApiClient(http_, env_);
    if (!client.ok()) return Fail(env_, "Error initializing client: " + client.status().message());
    if (mode_ == Mode::kSave) {
      auto r = client->Send("GET", "/v1/snapshot");
      if (!r.ok()) return Fail(env_, "Error saving snapshot: " + r.status().message());
      if (r->status != 200) {
        return Fail(env_, "Error saving snapshot: " + UnexpectedResponse(*r).message());
      }
      // Verify before anything is written: a snapshot that cannot be restored is no backup.
      auto a = codec::DecodeSnapshotArchive(r->body);
      if (!a.ok()) return Fail(env_, "Error verifying snapshot: " + a.status().message());
      std::string tmp = file + ".tmp";
      {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << r->body;
        if (!out) return Fail(env_, "Error writing snapshot file " + tmp);
      }
      if (std::rename(tmp.c_str(), file.c_str()) != 0) {
        return Fail(env_, "Error moving snapshot file into place: " + file);
      }
      *env_.out << "Saved and verified snapshot to index " << a->meta.index << "\n";
      return 0;
    }
    auto bytes = ReadWholeFile(file);
    if (!bytes.ok()) return Fail(env_, "Error opening snapshot file: " + bytes.status().message());
    if (auto a = codec::DecodeSnapshotArchive(*bytes); !a.ok()) {
      return Fail(env_, "Error restoring snapshot: " + a.status().message());
    }
    auto r = client->Send("PUT", "/v1/snapshot", {}, std::move(*bytes));
    if (!r.ok()) return Fail(env_, "Error restoring snapshot: " + r.status().message());
    if (r->status != 200) return Fail(env_, "Error restoring snapshot: " + UnexpectedResponse(*r).message());
    *env_.out << "Restored snapshot\n";
    return 0;
  }

 private:
  Environment& env_;
  Mode mode_;
  FlagSet flags_;
  HttpFlags http_;
};

}  // namespace

std::unique_ptr<Command> NewSnapshotCommand(Environment&) {
  return NewParentCommand("Saves, restores and inspects snapshots of Gangway server state",
                          "Usage: gangway snapshot <subcommand> [options] [args]\n\n"
                          "  Saves, restores and inspects snapshots of the servers' state\n"
                          "  (catalog, KV): save FILE, restore FILE, inspect FILE.\n");
}
std::unique_ptr<Command> NewSnapshotSaveCommand(Environment& env) {
  return std::make_unique<SnapshotCommand>(env, SnapshotCommand::Mode::kSave);
}
std::unique_ptr<Command> NewSnapshotRestoreCommand(Environment& env) {
  return std::make_unique<SnapshotCommand>(env, SnapshotCommand::Mode::kRestore);
}
std::unique_ptr<Command> NewSnapshotInspectCommand(Environment& env) {
  return std::make_unique<SnapshotCommand>(env, SnapshotCommand::Mode::kInspect);
}

}  // namespace gangway::cli
