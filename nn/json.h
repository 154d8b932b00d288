// json.h: nlohmann::json parsing of outside data with its nesting bounded.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace scorch::nn {

// Parses `text` as JSON and refuses, while parsing, a value nested deeper than `max_depth` arrays and
// objects: the parser itself does not recurse, but dump() and error messages over the value would
// (50,000 '[' in 120 KB overflowed the stack). Throws std::runtime_error "<who>: nested deeper than
// <max_depth> levels", and nlohmann::json::exception for text that is not JSON (parse_error, or
// out_of_range for a number like 1e999), for the caller to name.
inline nlohmann::json parse_json_bounded(std::string_view text, int max_depth, const std::string& who) {
  using json = nlohmann::json;
  // The callback sees each object and array start at the depth of its parent (0 for the outermost).
  return json::parse(text.begin(), text.end(), [&](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) && depth >= max_depth)
      throw std::runtime_error(who + ": nested deeper than " + std::to_string(max_depth) + " levels");
    return true;
  });
}

}  // namespace scorch::nn
