// A training corpus recipe: where each source's images are, which to take, how to scale them,
// and what is known of them (package, licence, kind). `cosae prepare --recipe FILE` builds the
// corpus from it; models/corpus-v2.json is the shipped models' recipe.
//
// The file is JSON:
//   {"format": "cosae-corpus-recipe", "version": 1, "name": "...",
//    "sources": [{"name": "endless-sky-land", "packages": ["endless-sky-high-dpi"],
//                 "licence": "...", "kind": "photo", "paths": ["/usr/share/..."],
//                 "include": ["*.jpg"], "exclude": ["*mask*"], "downscale": 2,
//                 "min_downscale": 2, "alpha": "white", "heldout": 0.1, "note": "..."}, ...]}
// Only "name" and "paths" are required. Unknown keys are refused (a misspelt key would
// otherwise be ignored silently).
#pragma once

#include <string>
#include <vector>

namespace cosae::train {

struct SourceSpec {
  std::string name;     // short and unique: names the source in the summary and the manifest
  std::vector<std::string> packages;  // the Debian packages that install it (none for a plain folder)
  std::string licence;
  std::string kind = "photo";  // "photo" or "graphics"
  std::string note;            // free text for the reader of the recipe
  // Files or folders (searched recursively). Images (PNG, and with OpenCV JPEG, WebP, ...)
  // and containers (Eet .edj/.eet, Qt .rcc) are taken; a container gives the images inside.
  std::vector<std::string> paths;
  // Glob patterns (fnmatch) on the file's name, without its folder; a file is taken when it
  // matches one of `include` (or `include` is empty) and none of `exclude`.
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  double downscale = 0.0;      // 0: prepare's --downscale
  double min_downscale = 0.0;  // 0: prepare's --min-downscale
  bool alpha_on_white = false;  // "alpha": "white" composites translucent pixels over white
                                // (clip art, screenshots); the default drops alpha
  double heldout = 0.0;         // share of the source's pictures set aside for evaluation
};

// Throws cosae::Error: io when the file cannot be read, usage for a malformed recipe (with the
// key or the source at fault).
std::vector<SourceSpec> read_recipe(const std::string& path);

// Debian packages the sources come from, sorted, each once.
std::vector<std::string> recipe_packages(const std::vector<SourceSpec>& sources);

}  // namespace cosae::train
