// A subcommand of the `cosae` tool: it declares its options on a CLI11 sub-app and runs.
// Each subcommand lives in its own file with its own options struct; cli/main.cpp holds the
// table that registers them and is the only place where errors become exit codes.
#pragma once

#include <memory>

#include <CLI/CLI.hpp>

namespace cosae::cli {

class Command {
 public:
  virtual ~Command() = default;
  // Adds this command's options and positionals to its sub-app.
  virtual void configure(CLI::App& app) = 0;
  // Runs after a successful parse; returns the exit code (0 on success). Errors are thrown
  // as cosae::Error.
  virtual int run() = 0;
};

std::unique_ptr<Command> make_encode_command();
std::unique_ptr<Command> make_decode_command();
std::unique_ptr<Command> make_train_command();
std::unique_ptr<Command> make_eval_command();
std::unique_ptr<Command> make_info_command();
std::unique_ptr<Command> make_bench_command();
std::unique_ptr<Command> make_prepare_command();
std::unique_ptr<Command> make_convert_command();

}  // namespace cosae::cli
