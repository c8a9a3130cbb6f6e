// What `taylorscope expand` shows: the JSON report of INTERFACES.md and the
// table on stdout. Both read an ExpansionResult; neither computes anything.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "taylorscope/expansion.hpp"

namespace taylorscope {

struct ReportContext {
  const Dataset& data;
  const Params& theta;
  const Activation& act;
  std::string params_source;  // a directory, or how the random θ was drawn
};

nlohmann::json expansion_report(const ExpansionResult& r, const ReportContext& ctx);
void print_expansion_table(std::ostream& out, const ExpansionResult& r, const ReportContext& ctx);

}  // namespace taylorscope
