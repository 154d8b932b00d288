#include "nn/safetensors.h"

#include "nn/json.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <vector>

#include "nn/json.h"
#include "tensor/file_io.h"

namespace scorch::nn {
namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference's MAX_HEADER_SIZE
// Ours nests 3 levels ({"name": {"shape": [...]}}); 64 leaves room, and keeps json::dump (which recurses
// per level, as brief() calls it) far from the stack's end.
constexpr int kMaxHeaderDepth = 64;
constexpr std::string_view kMetadataKey = "__metadata__";

struct DTypeCode {
  std::string_view code;
  DType dtype;
};
constexpr DTypeCode kDTypeCodes[] = {{"F32", kFloat32}, {"F64", kFloat64}, {"I64", kInt64}, {"U8", kUInt8}};

std::string code_of(DType dtype) {
  for (const DTypeCode& c : kDTypeCodes)
    if (c.dtype == dtype) return std::string(c.code);
  throw std::logic_error("safetensors: no code for " + std::string(dtype_name(dtype)));
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

// A JSON value for an error message, cut short: a corrupt header can be anything.
std::string brief(const json& value) {
  const std::string text = value.dump();
  return text.size() <= 60 ? text : text.substr(0, 60) + "...";
}

// One tensor's header entry, checked on its own (the layout of all entries is checked after).
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// `field` of an entry as an array of non-negative integers.
std::vector<uint64_t> uint_array(const json& entry, const char* field, const std::string& who) {
  if (!entry.contains(field)) fail(who + ": missing \"" + field + "\"");
  const json& value = entry.at(field);
  const bool ok =
      value.is_array() && std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_number_unsigned(); });
  if (!ok) fail(who + ": \"" + field + "\" must be an array of non-negative integers, got " + brief(value));
  return value.get<std::vector<uint64_t>>();
}

Entry parse_entry(const std::string& name, const json& value, const std::string& path) {
  const std::string who = path + ": tensor \"" + name + "\"";
  if (!value.is_object()) fail(who + ": expected an object with dtype, shape and data_offsets, got " + brief(value));
  if (!value.contains("dtype") || !value.at("dtype").is_string()) fail(who + ": missing or non-string \"dtype\"");
  const std::string code = value.at("dtype").get<std::string>();
  const auto it =
      std::find_if(std::begin(kDTypeCodes), std::end(kDTypeCodes), [&](const DTypeCode& c) { return c.code == code; });
  if (it == std::end(kDTypeCodes))
    fail(who + ": dtype \"" + code + "\" is not supported (expected F32, F64, I64 or U8)");
  const Shape shape = checked_shape(uint_array(value, "shape", who), it->dtype, who);
  const std::vector<uint64_t> offsets = uint_array(value, "data_offsets", who);
  if (offsets.size() != 2 || offsets[0] > offsets[1])
    fail(who + ": \"data_offsets\" must be [begin, end] with begin <= end, got " + brief(value.at("data_offsets")));
  const uint64_t nbytes = static_cast<uint64_t>(shape.numel()) * dtype_size(it->dtype);
  if (offsets[1] - offsets[0] != nbytes)
    fail(who + ": data_offsets [" + std::to_string(offsets[0]) + ", " + std::to_string(offsets[1]) + "] hold " +
         std::to_string(offsets[1] - offsets[0]) + " bytes, but " + code + " " + to_string(shape) + " needs " +
         std::to_string(nbytes));
  return {name, it->dtype, shape, offsets[0], offsets[1]};
}

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& path) {
  if (!value.is_object()) fail(path + ": \"__metadata__\" must be an object of strings, got " + brief(value));
  std::map<std::string, std::string> metadata;
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) fail(path + ": \"__metadata__\" entry \"" + key + "\" must be a string, got " + brief(v));
    metadata.emplace(key, v.get<std::string>());
  }
  return metadata;
}

// As the reference requires: sorted by offsets, the entries tile [0, data_size) with no overlap, no gap
// and nothing after the last one, so every byte of the file belongs to exactly one tensor.
void check_layout(std::vector<Entry>& entries, uint64_t data_size, const std::string& path) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  uint64_t covered = 0;
  std::string previous = "the header";
  for (const Entry& e : entries) {
    const std::string who = path + ": tensor \"" + e.name + "\": data_offsets [" + std::to_string(e.begin) + ", " +
                            std::to_string(e.end) + "]";
    if (e.end > data_size)
      fail(who + " run past the end of the data section (" + std::to_string(data_size) + " bytes); truncated file?");
    if (e.begin < covered) fail(who + " overlap " + previous + ", which ends at " + std::to_string(covered));
    if (e.begin > covered)
      fail(who + " leave a gap of " + std::to_string(e.begin - covered) + " bytes after " + previous +
           "; the tensors must cover the data section exactly");
    covered = e.end;
    previous = "tensor \"" + e.name + "\"";
  }
  if (covered != data_size)
    fail(path + ": " + std::to_string(data_size - covered) + " bytes after " + previous +
         " belong to no tensor; the tensors must cover the data section exactly");
}

struct RawFile {
  json header;
  std::string_view data;
};

// Reads the header length and parses the header; `data` is the rest of the file.
RawFile split_file(std::string_view bytes, const std::string& path) {
  if (bytes.size() < 8)
    fail(path + ": truncated safetensors file: " + std::to_string(bytes.size()) +
         " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{static_cast<uint8_t>(bytes[i])} << (8 * i);
  if (n > kMaxHeaderBytes)
    fail(path + ": header length " + std::to_string(n) + " is absurd (over 100 MB); not a safetensors file?");
  if (n > bytes.size() - 8)
    fail(path + ": header length " + std::to_string(n) + " runs past the end of the file (" +
         std::to_string(bytes.size()) + " bytes); truncated file?");
  const std::string_view text = bytes.substr(8, n);
  RawFile file{json(), bytes.substr(8 + n)};
  try {
    file.header = parse_json_bounded(text, kMaxHeaderDepth, path + ": the header");
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    fail(path + ": the header is not valid JSON: " + e.what());
  }
  if (!file.header.is_object()) fail(path + ": the header must be a JSON object, got " + brief(file.header));
  return file;
}

}  // namespace

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == kMetadataKey)
      throw std::invalid_argument("save_safetensors: " + path + ": \"__metadata__\" is not a tensor name");
    check_savable(t, "save_safetensors: " + path + ": tensor \"" + name + "\"");
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype());
    header[name] = {
        {"dtype", code_of(t.dtype())}, {"shape", t.shape().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // as the reference: the data starts 8-aligned
  std::string bytes;
  bytes.reserve(8 + text.size() + offset);
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((uint64_t{text.size()} >> (8 * i)) & 0xff);
  bytes += text;
  for (const auto& [name, t] : tensors) append_tensor_bytes(bytes, t);  // in name order, as the offsets
  write_file_atomic(path, bytes);
}

SafetensorsFile load_safetensors(const std::string& path) { return parse_safetensors(read_file(path), path); }

SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name) {
  const RawFile raw = split_file(bytes, name);
  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [key, value] : raw.header.items()) {
    if (key == kMetadataKey)
      file.metadata = parse_metadata(value, name);
    else
      entries.push_back(parse_entry(key, value, name));
  }
  check_layout(entries, raw.data.size(), name);
  for (const Entry& e : entries)
    file.tensors.emplace(e.name, tensor_from_bytes(raw.data.substr(e.begin, e.end - e.begin), e.shape, e.dtype));
  return file;
}

void save_module(const std::string& path, const Module& m, const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, m.state_dict(), metadata);
}

void load_module(const std::string& path, Module& m) { m.load_state_dict(load_safetensors(path).tensors, path); }

}  // namespace scorch::nn
