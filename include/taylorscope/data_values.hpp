// The N×E values of a Dataset: owned (read from a file by the loader) or
// borrowed (a caller's array: the Python package hands the engine a NumPy,
// PyTorch or JAX buffer without copying it, docs/python.md). Read through the
// same const interface either way, so no kernel knows which it has.
//
// A borrowed array is read-only: every mutating call throws std::logic_error
// rather than copying behind the caller's back (a silent copy would make the
// zero-copy promise false without anyone seeing it). Copying a DataValues
// that borrows copies the pointer; the lender keeps the memory alive.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <stdexcept>
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
  bool borrowed() const { return borrowed_ != nullptr; }

  const double* data() const { return borrowed_ ? borrowed_ : owned_.data(); }
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
  std::vector<double>& owned() {
    if (borrowed_) throw std::logic_error("a borrowed data array is read-only");
    return owned_;
  }
  std::vector<double> owned_;
  const double* borrowed_ = nullptr;
  size_t borrowed_size_ = 0;
};

}  // namespace taylorscope
