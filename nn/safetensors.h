// safetensors.h: checkpoints in the safetensors format (https://github.com/huggingface/safetensors),
// which Python opens with safetensors.torch.load_file or safe_open, and save_module/load_module on top.
//
// Layout:
//   N        uint64, little-endian: the length of the header
//   header   N bytes of UTF-8 JSON, padded with spaces to a multiple of 8 (so the data is 8-aligned):
//              {"__metadata__": {"step": "2000"},
//               "net.0.weight": {"dtype": "F32", "shape": [128, 3], "data_offsets": [0, 1536]}, ...}
//   data     the tensors' bytes, row-major and little-endian; data_offsets [begin, end) count from the
//            start of this section
// dtype is one of F32, F64, I64, U8 (scorch's four dtypes); "__metadata__" (optional) maps strings
// to strings. save_safetensors lays the tensors out back to back in name order.
//
// load_safetensors checks what the reference implementation checks (safetensors/src/tensor.rs,
// SafeTensors::read_metadata and Metadata::validate): the header length lies within the file and
// below 100 MB; the header is a JSON object nested at most 64 levels deep; every entry has a known dtype, a shape of
// non-negative integers and data_offsets with end - begin = numel * dtype size; and the entries, sorted by offset, tile
// the data section exactly: no overlap, no gap, no trailing bytes. Anything else throws std::runtime_error naming the
// file and, where there is one, the tensor.
#pragma once
#include <map>
#include <string>
#include <string_view>

#include "nn/module.h"
#include "tensor/tensor.h"

namespace scorch::nn {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Writes CPU tensors (any strides) atomically (tensor/file_io.h).
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// New contiguous CPU tensors with the file's names, shapes and dtypes.
SafetensorsFile load_safetensors(const std::string& path);
// The same from the file's bytes in memory; `name` (the file's path) starts every error message.
SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name);

// m.state_dict() as a safetensors file.
void save_module(const std::string& path, const Module& m, const std::map<std::string, std::string>& metadata = {});
// Loads the file into m's parameters and buffers; a missing, unexpected or mis-shaped entry throws
// (Module::load_state_dict) naming the file and the entry.
void load_module(const std::string& path, Module& m);

}  // namespace scorch::nn
