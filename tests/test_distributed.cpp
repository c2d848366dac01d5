// Data-parallel training with c10d (Gloo on the CPU): ranks started the torchrun way by hand,
// as separate `cosae train` processes on one host.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "image_test_util.hpp"
#include "temp_dir.hpp"
#include "train/distributed.hpp"

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool exists(const std::string& path) { return std::ifstream(path).good(); }

int exit_status(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// A free-ish port per test process and call.
int next_port() {
  static int offset = 0;
  return 20000 + static_cast<int>(::getpid() % 20000) + 7 * offset++;
}

// Runs `ranks` processes of `cosae train ARGS` (tiny model, samples/) into `out`; returns
// each rank's exit code; logs in out.rN.log.
std::vector<int> train_ranks(int ranks, const std::string& out, const std::string& args) {
  const int port = next_port();
  std::string script;
  for (int r = 0; r < ranks; ++r) {
    std::string env = ranks > 1 ? "WORLD_SIZE=" + std::to_string(ranks) + " RANK=" + std::to_string(r) +
                                      " LOCAL_RANK=" + std::to_string(r) + " MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                                      std::to_string(port) + " "
                                : "";
    script += "(" + env + "OMP_NUM_THREADS=1 " + COSAE_TEST_CLI + " train --data " + COSAE_TEST_SAMPLES_DIR +
              " --out " + out + " --config tiny --batch 2 --crop 64 --threads 1 --log-every 1 --dist-timeout 20 " +
              args + " > " + out + ".r" + std::to_string(r) + ".log 2>&1; echo $? > " + out + ".r" +
              std::to_string(r) + ".rc) & ";
  }
  script += "wait";
  REQUIRE(std::system(("bash -c '" + script + "'").c_str()) == 0);
  std::vector<int> codes;
  for (int r = 0; r < ranks; ++r) codes.push_back(std::atoi(slurp(out + ".r" + std::to_string(r) + ".rc").c_str()));
  return codes;
}

std::string weights_hash(const std::string& log) {
  const auto at = log.find("weights sha256 ");
  return at == std::string::npos ? "" : log.substr(at + 15, 64);
}

}  // namespace

TEST_CASE("torchrun's environment is read and checked", "[distributed]") {
  ::unsetenv("WORLD_SIZE");
  ::unsetenv("RANK");
  CHECK_FALSE(cosae::train::distributed_env_from_environment().active());
  ::setenv("WORLD_SIZE", "2", 1);
  CHECK(cosae_test::expect_error([] { cosae::train::distributed_env_from_environment(); }).kind() ==
        cosae::ErrorKind::usage);  // no RANK
  ::setenv("RANK", "1", 1);
  ::setenv("MASTER_PORT", "1234", 1);
  const auto env = cosae::train::distributed_env_from_environment();
  CHECK(env.active());
  CHECK(env.rank == 1);
  CHECK(env.local_rank == 1);
  CHECK(env.master_port == 1234);
  ::setenv("RANK", "2", 1);  // not below WORLD_SIZE
  CHECK_THROWS_AS(cosae::train::distributed_env_from_environment(), cosae::Error);
  ::unsetenv("WORLD_SIZE");
  ::unsetenv("RANK");
  ::unsetenv("MASTER_PORT");
}

TEST_CASE("two ranks keep identical weights; only rank 0 writes", "[distributed]") {
  if (cosae::train::distributed_backends().find("gloo") == std::string::npos) COSAE_SKIP("built without c10d's Gloo backend");
  cosae_test::TemporaryDirectory dir;
  const std::string out = dir / "run";
  const auto codes = train_ranks(2, out, "--steps 6");
  const auto log0 = slurp(out + ".r0.log"), log1 = slurp(out + ".r1.log");
  INFO(log0 << "\n----\n" << log1);
  REQUIRE(codes == std::vector<int>{0, 0});
  CHECK(weights_hash(log0).size() == 64);
  CHECK(weights_hash(log0) == weights_hash(log1));
  CHECK(log0.find("x 2 ranks") != std::string::npos);
  CHECK(log1.find("step ") == std::string::npos);  // rank 1 prints no progress
  CHECK(exists(out + "/checkpoint.pt"));
  CHECK(exists(out + "/model.safetensors"));
  int lines = 0;
  std::ifstream metrics(out + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) ++lines;
  CHECK(lines == 6);  // one writer
}

TEST_CASE("a checkpoint resumes across world sizes", "[distributed]") {
  if (cosae::train::distributed_backends().find("gloo") == std::string::npos) COSAE_SKIP("built without c10d's Gloo backend");
  cosae_test::TemporaryDirectory dir;
  const std::string out = dir / "run";
  REQUIRE(train_ranks(2, out, "--steps 8 --stop-at 3") == std::vector<int>{0, 0});
  REQUIRE(train_ranks(1, out, "--steps 8 --stop-at 5 --resume") == std::vector<int>{0});
  const auto codes = train_ranks(2, out, "--steps 8 --resume");
  const auto log0 = slurp(out + ".r0.log"), log1 = slurp(out + ".r1.log");
  INFO(log0 << "\n----\n" << log1);
  REQUIRE(codes == std::vector<int>{0, 0});
  CHECK(log0.find("steps 5 -> 8") != std::string::npos);
  CHECK(weights_hash(log0) == weights_hash(log1));
}

TEST_CASE("a rank that dies ends the others with a clear error, checkpoint intact", "[distributed]") {
  if (cosae::train::distributed_backends().find("gloo") == std::string::npos) COSAE_SKIP("built without c10d's Gloo backend");
  cosae_test::TemporaryDirectory dir;
  const std::string out = dir / "run";
  const int port = next_port();
  const std::string common = std::string("OMP_NUM_THREADS=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=") +
                             std::to_string(port) + " " + COSAE_TEST_CLI + " train --data " + COSAE_TEST_SAMPLES_DIR +
                             " --out " + out + " --config tiny --batch 2 --crop 64 --threads 1 --steps 100000" +
                             " --checkpoint-every 2 --dist-timeout 10";
  // Rank 1 is killed once rank 0 has saved a checkpoint; rank 0 must give up within its
  // timeout (the whole script is bounded by `timeout` so a hang fails the test).
  const std::string script =
      "(RANK=0 " + common + " > " + out + ".r0.log 2>&1; echo $? > " + out + ".r0.rc) & " + "RANK=1 " + common +
      " > " + out + ".r1.log 2>&1 & pid=$!; " + "for i in $(seq 600); do [ -f " + out +
      "/checkpoint.pt ] && break; sleep 0.1; done; sleep 0.5; kill -9 $pid; wait";
  const int status = std::system(("timeout 120 bash -c '" + script + "'").c_str());
  const auto log0 = slurp(out + ".r0.log");
  INFO(log0);
  REQUIRE(exit_status(status) == 0);  // not the timeout's 124
  CHECK(std::atoi(slurp(out + ".r0.rc").c_str()) == 7);  // device error
  CHECK(log0.find("distributed") != std::string::npos);
  // The last checkpoint is whole: a single process resumes from it.
  REQUIRE(exists(out + "/checkpoint.pt"));
  const auto codes = train_ranks(1, out, "--steps 100000 --resume --stop-at 1");
  INFO(slurp(out + ".r0.log"));
  CHECK(codes == std::vector<int>{0});
}
