#define CATCH_CONFIG_RUNNER
#include "catch_compat.hpp"
#include "common/host_memory.hpp"

int main(int argc, char* argv[]) {
  cosae::keep_freed_memory();  // as the cosae program does
  return Catch::Session().run(argc, argv);
}
