// `cosae`: the command-line tool. Subcommands are registered from one table; this file is
// the only place where errors become exit codes:
//   0 success            1 internal error     2 usage error       3 bad input data
//   4 file I/O error     5 model error        6 not available     7 device (CUDA) error
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>

#include "command.hpp"
#include "common/host_memory.hpp"
#include "cosae/error.hpp"

namespace {

struct SubcommandEntry {
  const char* name;
  const char* description;
  std::unique_ptr<cosae::cli::Command> (*make)();
};

const SubcommandEntry kSubcommands[] = {
    {"encode", "Compress images to .cosae bitstreams", cosae::cli::make_encode_command},
    {"decode", "Decompress .cosae bitstreams to images", cosae::cli::make_decode_command},
    {"train", "Train a model on a folder of images", cosae::cli::make_train_command},
    {"eval", "Rate-distortion evaluation over a dataset (bpp, PSNR, MS-SSIM)", cosae::cli::make_eval_command},
    {"info", "Show build, devices, or what a file holds", cosae::cli::make_info_command},
    {"bench", "Benchmarks (printed table, optional JSON)", cosae::cli::make_bench_command},
    {"prepare", "Build a training corpus (folders or a recipe): downscaled shards and a held-out set",
     cosae::cli::make_prepare_command},
    {"convert", "Rewrite a model file with f16/bf16 (or f32) weights", cosae::cli::make_convert_command},
};

bool debug_errors() {
  const char* env = std::getenv("COSAE_DEBUG");
  return env && *env && std::string(env) != "0";
}

}  // namespace

int run_command(int argc, char** argv) {
  cosae::keep_freed_memory();
  CLI::App app{"cosae " COSAE_VERSION " - a learned image codec built on the Cosine Autoencoder", "cosae"};
  app.set_version_flag("--version", "cosae " COSAE_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input data, 4 file I/O, 5 model,\n"
      "            6 not available in this build, 7 device (CUDA).\n"
      "Set COSAE_DEBUG=1 to print the source location of errors.");

  std::vector<std::unique_ptr<cosae::cli::Command>> commands;
  std::vector<CLI::App*> subapps;
  for (const auto& entry : kSubcommands) {
    commands.push_back(entry.make());
    CLI::App* sub = app.add_subcommand(entry.name, entry.description);
    commands.back()->configure(*sub);
    subapps.push_back(sub);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help/version/usage message
    return code == 0 ? 0 : cosae::exit_code(cosae::ErrorKind::usage);
  }

  try {
    // LibTorch defaults to one thread per physical core; use every core the machine offers
    // unless OMP_NUM_THREADS says otherwise (--threads overrides both).
    if (!std::getenv("OMP_NUM_THREADS")) at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    for (std::size_t i = 0; i < subapps.size(); ++i)
      if (subapps[i]->parsed()) return commands[i]->run();
    return cosae::exit_code(cosae::ErrorKind::usage);
  } catch (const cosae::Error& e) {
    std::cerr << "cosae: " << (debug_errors() || e.kind() == cosae::ErrorKind::internal ? e.where() : e.what())
              << "\n";
    return cosae::exit_code(e.kind());
  } catch (const CLI::ParseError& e) {  // validation done inside run()
    return app.exit(e) == 0 ? 0 : cosae::exit_code(cosae::ErrorKind::usage);
  } catch (const std::bad_alloc&) {
    std::cerr << "cosae: out of memory\n";
    return cosae::exit_code(cosae::ErrorKind::internal);
  } catch (const std::exception& e) {
    // LibTorch (c10::Error) and the standard library: keep the first line only.
    std::string message = e.what();
    if (!debug_errors()) message = message.substr(0, message.find('\n'));
    std::cerr << "cosae: internal error: " << message << "\n";
    return cosae::exit_code(cosae::ErrorKind::internal);
  }
}

int main(int argc, char** argv) {
  const int code = run_command(argc, argv);
  // Everything the command made is gone with run_command(); what exit() would still do is run the
  // libraries' static destructors, LibTorch unregistering its thousands of operators among
  // them: some 50 ms of every command. Flush the streams and leave without them.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(code);
}
