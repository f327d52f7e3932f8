// gangway keygen: a new gossip encryption key (32 random bytes, base64), as `consul keygen`.
#include <openssl/rand.h>

#include "cli/command.h"
#include "core/flags.h"
#include "core/base64.h"

namespace gangway::cli {

namespace {

class KeygenCommand : public Command {
 public:
  explicit KeygenCommand(Environment& env) : env_(env) {}

  std::string Synopsis() const override { return "Generates a new encryption key"; }
  std::string Help() const override {
    return "Usage: gangway keygen\n\n"
           "  Generates a new 32-byte encryption key that can be used to configure the\n"
           "  agent to encrypt traffic (the \"encrypt\" setting). The output of this\n"
           "  command is already in the proper format that the agent expects.\n";
  }

  int Run(const std::vector<std::string>& args) override {
    if (Status st = flags_.Parse(args); !st.ok()) return FlagError(env_, st, *this);
    if (!flags_.Args().empty()) {
      *env_.err << "Too many arguments (expected 0, got " << flags_.Args().size() << ")\n";
      return 1;
    }
    unsigned char key[32];
    if (RAND_bytes(key, sizeof key) != 1) {
      *env_.err << "Error reading random data: the system's random source failed\n";
      return 1;
    }
    *env_.out << Base64Encode(std::string_view(reinterpret_cast<char*>(key), sizeof key)) << "\n";
    return 0;
  }

 private:
  Environment& env_;
  FlagSet flags_;
};

}  // namespace

std::unique_ptr<Command> NewKeygenCommand(Environment& env) {
  return std::make_unique<KeygenCommand>(env);
}

}  // namespace gangway::cli
