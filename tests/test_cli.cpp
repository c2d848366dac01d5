// End-to-end checks of the `cosae` binary: help, version, exit codes, one-line errors.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "catch_compat.hpp"
#include "cosae/image.hpp"
#include "temp_dir.hpp"

namespace {

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

Result run_cli(const std::string& args) {
  const std::string command = std::string(COSAE_TEST_CLI) + " " + args + " 2>&1";
  Result r;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

int count_lines(const std::string& s) {
  int lines = 0;
  for (char c : s) lines += c == '\n';
  return lines;
}

}  // namespace

TEST_CASE("cosae --help lists every subcommand", "[cli]") {
  const auto r = run_cli("--help");
  CHECK(r.exit_code == 0);
  for (const char* name : {"encode", "decode", "train", "eval", "info", "bench"}) CHECK(r.output.find(name) != std::string::npos);
  CHECK(run_cli("--version").output.find("cosae ") != std::string::npos);
  for (const char* name : {"encode", "decode", "train", "eval", "info", "bench"}) {
    INFO(name);
    CHECK(run_cli(std::string(name) + " --help").exit_code == 0);
  }
}

TEST_CASE("usage errors exit with code 2", "[cli]") {
  CHECK(run_cli("").exit_code == 2);
  CHECK(run_cli("no-such-command").exit_code == 2);
  CHECK(run_cli("encode").exit_code == 2);  // input required
  CHECK(run_cli("bench synthesis --size huge").exit_code == 2);
  CHECK(run_cli("train --data x").exit_code == 2);  // --out required
}

TEST_CASE("no model, bad options: one line, documented codes", "[cli]") {
  const auto sample = std::string(COSAE_TEST_SAMPLES_DIR) + "/astronaut.png";
  const auto r = run_cli("encode " + sample + " -o /dev/null -m /nonexistent/model.safetensors");
  CHECK(r.exit_code == 4);
  CHECK(count_lines(r.output) == 1);
  const auto e = run_cli("eval --data " + std::string(COSAE_TEST_SAMPLES_DIR) + " -m /nonexistent/model.safetensors");
  CHECK(e.exit_code == 4);
  CHECK(count_lines(e.output) == 1);
  const auto b = run_cli("eval --data " + std::string(COSAE_TEST_SAMPLES_DIR) + " --baselines bmp");
  CHECK(b.exit_code == 2);
  CHECK(count_lines(b.output) == 1);
  for (const char* bound : {"0", "x", "12289"}) {  // the default model's blocks hold 3 x 64 x 64
    const auto l = run_cli("eval --data " + std::string(COSAE_TEST_SAMPLES_DIR) + " --linear-bound " + bound);
    INFO(bound << ": " << l.output);
    CHECK(l.exit_code == 2);
    CHECK(count_lines(l.output) == 1);
  }
}

TEST_CASE("info describes images and rejects bad files with one line", "[cli]") {
  const auto sample = std::string(COSAE_TEST_SAMPLES_DIR) + "/astronaut.png";
  const auto good = run_cli("info " + sample);
  CHECK(good.exit_code == 0);
  CHECK(good.output.find("512x512") != std::string::npos);

  const cosae_test::TemporaryDirectory dir;
  const auto corrupt = dir / "corrupt.png";
  {
    std::ifstream in(sample, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(corrupt, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  }
  const auto truncated = run_cli("info " + corrupt);
  CHECK(truncated.exit_code == 3);
  CHECK(count_lines(truncated.output) == 1);

  const auto empty = dir / "empty.png";
  std::ofstream(empty).close();
  CHECK(run_cli("info " + empty).exit_code == 3);
  CHECK(run_cli("info " + (dir / "missing.png")).exit_code == 4);
}

TEST_CASE("asking for CUDA without CUDA is a device error", "[cli]") {
  const auto r = run_cli("bench synthesis --device cuda --size train --repeats 1 --warmup 0");
#ifndef COSAE_WITH_CUDA
  CHECK(r.exit_code == 7);
  CHECK(count_lines(r.output) == 1);
#else
  CHECK((r.exit_code == 0 || r.exit_code == 7));
#endif
}

TEST_CASE("train a tiny model through the CLI, then describe it", "[cli]") {
  const cosae_test::TemporaryDirectory dir;
  const std::string run = dir / "run";
  const auto r = run_cli("train --data " + std::string(COSAE_TEST_SAMPLES_DIR) + " --out " + run +
                         " --config tiny --steps 3 --batch 1 --crop 32 --device cpu --threads 1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("model written to") != std::string::npos);
  const auto info = run_cli("info " + run + "/model.safetensors");
  CHECK(info.exit_code == 0);
  CHECK(info.output.find("cosae model cosae-tiny") != std::string::npos);
  // The levels encode uses without -q: under the detail layer, and without it.
  CHECK(info.output.find("q1 0.0018 (default)") != std::string::npos);
  CHECK(info.output.find("q4 0.013 (default with -d 0)") != std::string::npos);
  // The same folder again without --resume: refused, the run kept.
  CHECK(run_cli("train --data " + std::string(COSAE_TEST_SAMPLES_DIR) + " --out " + run +
                " --config tiny --steps 3 --crop 32 --device cpu").exit_code == 2);
  CHECK(cosae_test::exists(run + "/checkpoint.pt"));
  // Encode and decode with it: files, stdin/stdout, --json, --reference.
  const std::string sample = std::string(COSAE_TEST_SAMPLES_DIR) + "/chelsea.png";
  const std::string model = " -m " + run + "/model.safetensors";
  const auto enc = run_cli("encode " + sample + " -o " + (dir / "c.cosae") + " -q 2 --json" + model);
  INFO(enc.output);
  CHECK(enc.exit_code == 0);
  CHECK(enc.output.find("\"bpp\"") != std::string::npos);
  CHECK(enc.output.find("\"detail\":14") != std::string::npos);  // the detail layer by default
  const auto alone = run_cli("encode " + sample + " -o " + (dir / "n.cosae") + " -d 0 --json" + model);
  CHECK(alone.output.find("\"detail\":0") != std::string::npos);
  CHECK(alone.output.find("\"quality\":4") != std::string::npos);
  CHECK(run_cli("encode " + sample + " -o " + (dir / "x.cosae") + " -d 49" + model).exit_code == 2);
  CHECK_FALSE(cosae_test::exists(dir / "x.cosae"));
  const auto dec = run_cli("decode " + (dir / "c.cosae") + " -o " + (dir / "c.png") + " --reference " + sample + model);
  CHECK(dec.exit_code == 0);
  CHECK(dec.output.find("PSNR") != std::string::npos);
  CHECK(run_cli("info " + (dir / "c.png")).output.find("451x300") != std::string::npos);
  // What a stream's header holds, without the model; a damaged stream is refused.
  const auto stream = run_cli("info " + (dir / "c.cosae"));
  INFO(stream.output);
  CHECK(stream.exit_code == 0);
  CHECK(stream.output.find("cosae stream, format 2, 451x300, RGB, 8-bit") != std::string::npos);
  CHECK(stream.output.find("model cosae-tiny") != std::string::npos);
  CHECK(stream.output.find("quality q2") != std::string::npos);
  CHECK(stream.output.find("detail layer d14") != std::string::npos);
  CHECK(run_cli("info --json " + (dir / "c.cosae")).output.find("\"part\":\"detail\"") != std::string::npos);
  run_cli("encode " + sample + " -o " + (dir / "cut.cosae") + " -q 2 --quiet" + model);
  const auto whole = cosae::read_file(dir / "cut.cosae");
  cosae::write_file_atomic(dir / "cut.cosae", whole.data(), whole.size() - 7);
  CHECK(run_cli("info " + (dir / "cut.cosae")).exit_code == 3);
  const auto piped = run_cli("encode - -o - -q 1 --quiet" + model + " < " + sample + " | " + COSAE_TEST_CLI +
                             " decode - -o " + (dir / "p.png") + " --quiet" + model);
  CHECK(piped.exit_code == 0);
  CHECK(cosae_test::exists(dir / "p.png"));
  // A truncated stream: exit 3, and no output file.
  CHECK(run_cli("decode " + sample + " -o " + (dir / "bad.png") + model).exit_code == 3);
  CHECK_FALSE(cosae_test::exists(dir / "bad.png"));

  // Never over an input: the same path, another path to it, a link to it, --reference.
  const std::string copy = dir / "in.png";
  REQUIRE(run_cli("decode " + (dir / "c.cosae") + " -o " + copy + " --quiet" + model).exit_code == 0);
  const auto before = cosae::read_file(copy);
  REQUIRE(::symlink(copy.c_str(), (dir / "link.cosae").c_str()) == 0);
  for (const std::string& target : {copy, dir / "./in.png", dir / "link.cosae"}) {
    INFO(target);
    const auto over = run_cli("encode " + copy + " -o " + target + model);
    CHECK(over.exit_code == 2);
    CHECK(over.output.find("refusing to write over it") != std::string::npos);
  }
  CHECK(run_cli("decode " + (dir / "c.cosae") + " -o " + copy + " --reference " + copy + model).exit_code == 2);
  CHECK(cosae::read_file(copy) == before);

  // A batch codes every good file, reports each bad one, and exits non-zero at the end; -o DIR/
  // is created when missing, and paths come out clean.
  const std::string broken = dir / "broken.png";
  std::ofstream(broken) << "not a png";
  const auto batch = run_cli("encode " + sample + " " + broken + " " + copy + " -o " + (dir / "out/") + " -q 1 --json" + model);
  INFO(batch.output);
  CHECK(batch.exit_code == 3);
  CHECK(cosae_test::exists(dir / "out/chelsea.cosae"));
  CHECK(cosae_test::exists(dir / "out/in.cosae"));
  CHECK_FALSE(cosae_test::exists(dir / "out/broken.cosae"));
  CHECK(batch.output.find("broken.png") != std::string::npos);
  CHECK(batch.output.find("//") == std::string::npos);
  CHECK(batch.output.find("\"output\":\"" + (dir / "out/in.cosae") + "\"") != std::string::npos);
  CHECK(run_cli("encode " + sample + " " + (dir / "sub/chelsea.png") + " -o " + (dir / "out2") + model).exit_code == 2);
  CHECK(run_cli("decode " + (dir / "out/chelsea.cosae") + " " + (dir / "out/in.cosae") + " -o " + (dir / "png") +
                " --quiet" + model).exit_code == 0);
  CHECK(cosae_test::exists(dir / "png/in.png"));

  // Ctrl-C: the checkpoint is saved and the exit status is 130, as shells expect.
  const std::string long_run = dir / "long";
  const auto interrupted = run_cli("train --data " + std::string(COSAE_TEST_SAMPLES_DIR) + " --out " + long_run +
                                   " --config tiny --steps 1000000 --batch 1 --crop 32 --device cpu --threads 1 & pid=$!; "
                                   "for i in $(seq 600); do [ -s " + long_run + "/metrics.jsonl ] && break; sleep 0.1; done; "
                                   "kill -INT $pid; wait $pid; echo \"status $?\"");
  INFO(interrupted.output);
  CHECK(interrupted.output.find("status 130") != std::string::npos);
  CHECK(cosae_test::exists(long_run + "/checkpoint.pt"));
  // A start that fails (no images) leaves no run folder behind.
  cosae_test::make_dirs(dir / "empty");
  CHECK(run_cli("train --data " + (dir / "empty") + " --out " + (dir / "r3") + " --config tiny --device cpu").exit_code == 3);
  CHECK_FALSE(cosae_test::exists(dir / "r3"));
  // --entropy-only needs a conditional model in the config, and a trained transform (--init).
  const std::string samples = COSAE_TEST_SAMPLES_DIR;
  const auto no_conditional = run_cli("train --data " + samples + " --out " + (dir / "r4") +
                                      " --config tiny --init " + samples + "/../tests/golden/tiny-conditional.safetensors"
                                      " --entropy-only --steps 1 --device cpu 2>&1");
  CHECK(no_conditional.exit_code == 2);
  CHECK(no_conditional.output.find("no conditional entropy model") != std::string::npos);
  const auto no_init = run_cli("train --data " + samples + " --out " + (dir / "r5") + " --config " + samples +
                               "/../tests/golden/tiny-conditional.json --entropy-only --steps 1 --device cpu 2>&1");
  CHECK(no_init.exit_code == 2);
  CHECK(no_init.output.find("--init") != std::string::npos);

  // A config typo, and a file that is not a model.
  CHECK(run_cli("train --data . --out " + (dir / "r2") + " --config no-such-preset").exit_code != 0);
  CHECK(run_cli("info " + std::string(COSAE_TEST_SAMPLES_DIR) + "/README.md.safetensors").exit_code == 4);
}

TEST_CASE("samples/eval_folder.sh writes the report, JSON and CSV", "[cli][eval]") {
  const cosae_test::TemporaryDirectory dir;
  cosae_test::make_dirs(dir / "images");
  const std::string sample = std::string(COSAE_TEST_SAMPLES_DIR) + "/chelsea.png";
  REQUIRE(std::system(("cp " + sample + " " + (dir / "images")).c_str()) == 0);
  const std::string command = "COSAE=" + std::string(COSAE_TEST_CLI) + " bash " + COSAE_TEST_SAMPLES_DIR +
                              "/eval_folder.sh " + (dir / "images") + " " + (dir / "out") +
                              " -q 1,6 --jpeg-qualities 10,50,90 --webp-qualities 10,90 --quiet 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  INFO(output);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  for (const char* file : {"results.json", "results.csv", "report.html", "summary.txt"}) {
    std::ifstream in(dir / "out" + "/" + file);
    CHECK(in.good());
  }
  std::ifstream csv(dir / "out" + "/results.csv");
  int rows = 0;
  for (std::string line; std::getline(csv, line);) ++rows;
  // Header, 2 cosae levels, and the baselines when built with OpenCV (3 JPEG + 2 WebP).
  CHECK((rows == 3 || rows == 8));
}

TEST_CASE("bench train reports throughput as a table and JSON", "[cli][bench]") {
  const cosae_test::TemporaryDirectory dir;
  const std::string json = dir / "train.json";
  const auto r = run_cli("bench train --device cpu --config tiny --batch 2 --crop 32 --warmup 1 --steps 3 "
                         "--threads 1 --json " + json);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("images/s") != std::string::npos);
  std::ifstream in(json);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.find("\"images_per_s\"") != std::string::npos);
  CHECK(text.find("\"timed_steps\": 3") != std::string::npos);
  CHECK(run_cli("bench train --steps 0").exit_code == 2);
}
