// Corpus recipes: see recipe.hpp.
#include "train/recipe.hpp"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "cosae/error.hpp"
#include "cosae/image.hpp"

namespace cosae::train {
namespace {

using nlohmann::json;

std::vector<std::string> string_list(const json& value, const std::string& where) {
  COSAE_CHECK(value.is_array(), usage, where, ": must be a list of strings");
  std::vector<std::string> list;
  for (const auto& item : value) {
    COSAE_CHECK(item.is_string() && !item.get<std::string>().empty(), usage, where,
                ": must be a list of non-empty strings");
    list.push_back(item.get<std::string>());
  }
  return list;
}

double number_in(const json& value, const std::string& where, double low, double high) {
  COSAE_CHECK(value.is_number(), usage, where, ": must be a number");
  const double number = value.get<double>();
  COSAE_CHECK(number >= low && number <= high, usage, where, " ", number, ": must be in [", low, ", ", high, "]");
  return number;
}

std::string text(const json& value, const std::string& where) {
  COSAE_CHECK(value.is_string(), usage, where, ": must be a string");
  return value.get<std::string>();
}

SourceSpec parse_source(const json& entry, const std::string& where) {
  COSAE_CHECK(entry.is_object(), usage, where, ": must be an object");
  SourceSpec source;
  COSAE_CHECK(entry.contains("name"), usage, where, ": has no \"name\"");
  source.name = text(entry["name"], where + ".name");
  COSAE_CHECK(!source.name.empty() && source.name.find_first_of("/\\ \t\n") == std::string::npos, usage, where,
              ".name \"", source.name, "\": must be a non-empty word without '/' or spaces");
  const std::string at = "source \"" + source.name + "\"";
  for (const auto& [key, value] : entry.items()) {
    if (key == "name") continue;
    else if (key == "packages") source.packages = string_list(value, at + ".packages");
    else if (key == "licence") source.licence = text(value, at + ".licence");
    else if (key == "note") source.note = text(value, at + ".note");
    else if (key == "kind") {
      source.kind = text(value, at + ".kind");
      COSAE_CHECK(source.kind == "photo" || source.kind == "graphics", usage, at, ".kind \"", source.kind,
                  "\": must be \"photo\" or \"graphics\"");
    } else if (key == "paths") source.paths = string_list(value, at + ".paths");
    else if (key == "include") source.include = string_list(value, at + ".include");
    else if (key == "exclude") source.exclude = string_list(value, at + ".exclude");
    else if (key == "downscale") source.downscale = number_in(value, at + ".downscale", 1.0, 16.0);
    else if (key == "min_downscale") source.min_downscale = number_in(value, at + ".min_downscale", 1.0, 16.0);
    else if (key == "heldout") source.heldout = number_in(value, at + ".heldout", 0.0, 1.0);
    else if (key == "alpha") {
      const std::string alpha = text(value, at + ".alpha");
      COSAE_CHECK(alpha == "white" || alpha == "discard", usage, at, ".alpha \"", alpha,
                  "\": must be \"white\" or \"discard\"");
      source.alpha_on_white = alpha == "white";
    } else {
      COSAE_FAIL(usage, at, ": unknown key \"", key, "\"");
    }
  }
  COSAE_CHECK(!source.paths.empty(), usage, at, ": has no \"paths\"");
  if (source.downscale > 0.0 && source.min_downscale > 0.0)
    COSAE_CHECK(source.min_downscale <= source.downscale, usage, at, ".min_downscale ", source.min_downscale,
                ": must not exceed its downscale ", source.downscale);
  return source;
}

}  // namespace

std::vector<SourceSpec> read_recipe(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  json recipe;
  try {
    recipe = json::parse(bytes.begin(), bytes.end());
  } catch (const json::exception& error) {
    COSAE_FAIL(usage, path, ": not valid JSON: ", error.what());
  }
  COSAE_CHECK(recipe.is_object() && recipe.value("format", "") == "cosae-corpus-recipe", usage, path,
              ": not a corpus recipe (expected \"format\": \"cosae-corpus-recipe\")");
  COSAE_CHECK(recipe.value("version", 0) == 1, usage, path, ": recipe version ", recipe.value("version", 0),
              " (this cosae reads version 1)");
  COSAE_CHECK(recipe.contains("sources") && recipe["sources"].is_array() && !recipe["sources"].empty(), usage, path,
              ": has no \"sources\" list");
  std::vector<SourceSpec> sources;
  std::set<std::string> names;
  for (std::size_t i = 0; i < recipe["sources"].size(); ++i) {
    SourceSpec source = parse_source(recipe["sources"][i], path + ": sources[" + std::to_string(i) + "]");
    COSAE_CHECK(names.insert(source.name).second, usage, path, ": two sources are named \"", source.name, "\"");
    sources.push_back(std::move(source));
  }
  return sources;
}

std::vector<std::string> recipe_packages(const std::vector<SourceSpec>& sources) {
  std::set<std::string> packages;
  for (const auto& source : sources)
    packages.insert(source.packages.begin(), source.packages.end());
  return {packages.begin(), packages.end()};
}

}  // namespace cosae::train
