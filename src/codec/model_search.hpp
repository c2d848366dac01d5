// Where cosae finds its model files. The folders, in order: $COSAE_MODEL_DIR, the installed
// share/cosae/models, the source tree's models/. Each may hold default.safetensors (the model
// `encode` uses) and earlier shipped models named after their id, <model id>.safetensors, so
// that a stream written with an earlier default decodes after the default has moved on.
#pragma once

#include <string>
#include <vector>

#include "cosae/bitstream.hpp"

namespace cosae::codec {

struct CodecModel;

std::vector<std::string> model_dirs();

// The default model: default.safetensors in the first folder that has it. Throws
// cosae::Error (model) naming where it looked.
std::string find_default_model();

// <model id>.safetensors in the first folder that has it, "" where none has.
std::string find_model_by_id(const std::string& model_id);

// The model file for a stream's model: <model id>.safetensors, else a file in the model
// folders that supersedes that model. Throws cosae::Error (model) naming the model the stream
// needs and the folders searched when none holds it.
std::string find_model_for_stream(const BitstreamHeader& header);

// True when `m` decodes streams of the model `header` names (that model, or one `m` supersedes).
bool decodes_streams_of(const BitstreamHeader& header, const CodecModel& m);

}  // namespace cosae::codec
