// libFuzzer target: the training checkpoint loader, read_checkpoint_state
// (the container checks of read_checkpoint, then every header field and
// array). The input is a checkpoint without its trailing CRC-32; the harness
// appends the right one, so mutations reach the header and array parsing
// instead of dying at the checksum (a random flip fails the CRC, which the
// tests already cover).
#include <zlib.h>

#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "training/checkpoint.hpp"

using namespace taylorscope;

namespace {

// The shape a model with exactly this state's sizes expects.
CheckpointShape shape_of(const CheckpointState& s) {
  CheckpointShape shape;
  shape.param_count = static_cast<int64_t>(s.theta.size());
  for (const auto& [name, values] : s.optimizer_arrays) shape.optimizer_arrays.emplace_back(name, values.size());
  return shape;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& s = fuzz::scratch();
  std::string bytes(reinterpret_cast<const char*>(data), size);
  const uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), data, static_cast<uInt>(size)));
  for (int k = 0; k < 4; ++k) bytes += static_cast<char>((crc >> (8 * k)) & 0xFF);
  const std::string path = s.write("checkpoint.bin", bytes);
  fuzz::expect_clean_refusal({path}, [&] {
    const CheckpointState state = read_checkpoint_state(path, CheckpointShape{});
    // Accepted once, accepted with its own shape; a model of one more
    // parameter must be refused.
    const CheckpointState again = read_checkpoint_state(path, shape_of(state));
    CheckpointShape bigger = shape_of(state);
    ++bigger.param_count;
    bool refused = false;
    try {
      read_checkpoint_state(path, bigger);
    } catch (const InputError&) {
      refused = true;
    }
    if (!refused) fuzz::fail("accepted a checkpoint for a model of another size");
    // What the writer makes of an accepted state reads back as the same state.
    const std::string copy = s.path("copy.bin");
    write_checkpoint_state(copy, state);
    const CheckpointState back = read_checkpoint_state(copy, shape_of(state));
    if (back.theta != state.theta || back.best_theta != state.best_theta || back.step != state.step ||
        back.records.size() != state.records.size() || back.identity != state.identity ||
        back.chosen_epoch != state.chosen_epoch || back.stopped_early != state.stopped_early ||
        back.optimizer_arrays != state.optimizer_arrays)
      fuzz::fail("a state written and read back differs");
  });
  return 0;
}
