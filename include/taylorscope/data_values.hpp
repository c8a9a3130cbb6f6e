// The N×E values of a Dataset: owned (read from a file by the loader) or
// borrowed (a caller's array: the Python package hands the engine a NumPy,
// PyTorch or JAX buffer without copying it, docs/python.md). Read through the
// same const interface either way, so no kernel knows which it has.
//
// A borrowed array may live in a GPU's memory (a CUDA tensor handed to
// expand()): only the CUDA expansion backend of that device reads it, through
// device_data(). Every host read (data(), row(), operator[]) of such values
// throws std::logic_error instead of dereferencing a device pointer; the
// library refuses the combination earlier, with an InputError naming it
// (require_data_readable_by, expansion_pass.hpp), so the throw is a net.
//
// A borrowed array is read-only: every mutating call throws std::logic_error
// rather than copying behind the caller's back (a silent copy would make the
// zero-copy promise false without anyone seeing it). Copying a DataValues
// that borrows copies the pointer; the lender keeps the memory alive.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace taylorscope {

class DataValues {
 public:
  DataValues() = default;
  DataValues(std::vector<double> owned) : owned_(std::move(owned)) {}  // NOLINT: a vector is owned values
  DataValues& operator=(std::vector<double> owned) {
    owned_ = std::move(owned);
    borrowed_ = nullptr;
    borrowed_size_ = 0;
    device_ = -1;
    return *this;
  }
  DataValues(std::initializer_list<double> values) : owned_(values) {}

  // Refers to n doubles at `values`, which must outlive every use.
  static DataValues borrow(const double* values, size_t n) {
    DataValues v;
    v.borrowed_ = values;
    v.borrowed_size_ = n;
    return v;
  }
  // Refers to n doubles in the memory of CUDA device `device` (≥ 0).
  static DataValues borrow_on_device(const double* values, size_t n, int device) {
    if (device < 0) throw std::logic_error("DataValues::borrow_on_device: a device index is ≥ 0");
    DataValues v = borrow(values, n);
    v.device_ = device;
    return v;
  }
  bool borrowed() const { return borrowed_ != nullptr; }
  // The CUDA device whose memory holds the values, or -1 (host memory).
  int device() const { return device_; }
  bool on_device() const { return device_ >= 0; }
  // The values' address in device memory (on_device() only).
  const double* device_data() const {
    if (device_ < 0) throw std::logic_error("DataValues::device_data: the values are in host memory");
    return borrowed_;
  }

  const double* data() const {
    if (device_ >= 0) refuse_host_read();
    return borrowed_ ? borrowed_ : owned_.data();
  }
  size_t size() const { return borrowed_ ? borrowed_size_ : owned_.size(); }
  bool empty() const { return size() == 0; }
  const double* begin() const { return data(); }
  const double* end() const { return data() + size(); }
  const double& operator[](size_t i) const { return data()[i]; }

  // Mutation: owned values only.
  double* data() { return owned().data(); }
  double* begin() { return owned().data(); }
  double* end() { return owned().data() + owned_.size(); }
  double& operator[](size_t i) { return owned()[i]; }
  void clear() { owned().clear(); }
  // Moves the owned values out, leaving this empty (the Python package hands
  // a loaded set's values to NumPy without a copy).
  std::vector<double> release() {
    std::vector<double> out = std::move(owned());
    owned_.clear();
    return out;
  }
  void resize(size_t n) { owned().resize(n); }
  void push_back(double x) { owned().push_back(x); }
  template <class It>
  void assign(It first, It last) {
    owned().assign(first, last);
  }
  // Appends [first, last) (`at` must be end(): rows are only ever appended).
  template <class It>
  void insert(const double* at, It first, It last) {
    if (at != owned_.data() + owned_.size()) throw std::logic_error("DataValues::insert: only at end()");
    owned_.insert(owned_.end(), first, last);
  }

 private:
  [[noreturn]] void refuse_host_read() const {
    throw std::logic_error("data in the memory of cuda:" + std::to_string(device_) + " read on the host");
  }
  std::vector<double>& owned() {
    if (borrowed_) throw std::logic_error("a borrowed data array is read-only");
    return owned_;
  }
  std::vector<double> owned_;
  const double* borrowed_ = nullptr;
  size_t borrowed_size_ = 0;
  int device_ = -1;
};

}  // namespace taylorscope
