// The report of `taylorscope dominance`. The term keys are those of
// INTERFACES.md's `expand` report (cc, J_UW, ccc, Ub_c, Z_UW_c, J_UWb, J_UWW).
#include "taylorscope/dominance_report.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "plot/charts.hpp"
#include "report/json_number.hpp"
#include "taylorscope/tensor_report.hpp"

namespace taylorscope {
namespace {

nlohmann::json number(double v) { return json_number(v); }

nlohmann::json order_json(const std::vector<TermShare>& terms, double exact) {
  nlohmann::json t = nlohmann::json::object();
  double sum = 0;
  for (const TermShare& s : terms) {
    t[s.name] = {{"value", number(s.value)}, {"share", number(s.share)},
                 {"abs_share", number(s.abs_share)}, {"count", s.count}};
    sum += s.value;
  }
  return {{"exact", number(exact)}, {"closed_form_sum", number(sum)}, {"terms", t}};
}

nlohmann::json radius_json(const RadiusEstimate& r) {
  nlohmann::json j = {{"estimate", number(r.estimate)}, {"orders_used", r.orders_used}};
  if (!r.available()) j["reason"] = r.absent_reason;
  return j;
}

std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v + 0.0);  // + 0.0: no "-0" (D_4 = 0 when σ_3 = 0)
  return buf;
}

}  // namespace

nlohmann::json dominance_report(const std::vector<WidthAnalysis>& widths, const nlohmann::json& settings) {
  using nlohmann::json;
  json rows = json::array();
  for (const WidthAnalysis& w : widths) {
    const ExpansionResult& r = w.expansion;
    json dominant = json::array();
    for (const DominantTerm& d : r.dominant)
      if (d.n <= 4)
        dominant.push_back({{"n", d.n}, {"D", number(d.D)}, {"S", number(d.S)}, {"ratio", number(d.ratio)},
                            {"count", d.count}});
    json tensors = json::object();
    for (const TensorStatistics& t : w.tensors)
      tensors[std::to_string(t.order)] = {{"J", element_stats_json(t.J)}, {"T", element_stats_json(t.T)},
                                          {"JT", element_stats_json(t.JT)}, {"dot", number(t.dot)}};
    json sk = json::array();
    for (double v : r.S_k) sk.push_back(number(v));
    rows.push_back({{"H", w.H},
                    {"theta_star", {{"chosen_epoch", w.chosen_epoch}, {"chosen_by", w.chosen_by},
                                    {"train_loss", number(w.train_loss)}, {"train_acc", number(w.train_acc)},
                                    {"eval_loss", number(w.eval_loss)}, {"eval_acc", number(w.eval_acc)},
                                    {"train_seconds", w.train_seconds}}},
                    {"S_direct", number(r.S_direct)},
                    {"S_k", sk},
                    {"S2", order_json(w.S2_terms, r.S_k.at(2))},
                    {"S3", order_json(w.S3_terms, r.S_k.at(3))},
                    {"dominant", dominant},
                    {"radius", radius_json(r.radius)},
                    {"tensors", tensors},
                    {"device", r.device}});
  }
  return {{"settings", settings}, {"precision", "float64"}, {"widths", rows}};
}

std::string dominance_csv(const std::vector<WidthAnalysis>& widths) {
  std::ostringstream out;
  const char* names2[] = {"cc", "J_UW"};
  const char* names3[] = {"ccc", "Ub_c", "Z_UW_c", "J_UWb", "J_UWW"};
  out << "H,chosen_epoch,eval_loss,eval_acc,S_direct,S2";
  for (const char* n : names2) out << "," << n;
  for (const char* n : names2) out << ",abs_share_" << n;
  out << ",S3";
  for (const char* n : names3) out << "," << n;
  for (const char* n : names3) out << ",abs_share_" << n;
  for (const char* n : names2) out << ",count_" << n;
  for (const char* n : names3) out << ",count_" << n;
  for (int n = 1; n <= 4; ++n) out << ",D" << n + 1 << "_over_S" << n + 1;
  for (int n = 1; n <= 2; ++n)
    out << ",JT" << n << "_mean,JT" << n << "_skewness,JT" << n << "_frac_negative,JT" << n << "_frac_zero,J" << n
        << "_excess_kurtosis,T" << n << "_excess_kurtosis";
  out << ",radius\n";
  for (const WidthAnalysis& w : widths) {
    const ExpansionResult& r = w.expansion;
    out << w.H << "," << w.chosen_epoch << "," << csv_number(w.eval_loss) << "," << csv_number(w.eval_acc) << ","
        << csv_number(r.S_direct) << "," << csv_number(r.S_k.at(2));
    for (const TermShare& s : w.S2_terms) out << "," << csv_number(s.value);
    for (const TermShare& s : w.S2_terms) out << "," << csv_number(s.abs_share);
    out << "," << csv_number(r.S_k.at(3));
    for (const TermShare& s : w.S3_terms) out << "," << csv_number(s.value);
    for (const TermShare& s : w.S3_terms) out << "," << csv_number(s.abs_share);
    for (const TermShare& s : w.S2_terms) out << "," << csv_number(s.count);
    for (const TermShare& s : w.S3_terms) out << "," << csv_number(s.count);
    for (int n = 1; n <= 4; ++n)
      out << "," << (n <= static_cast<int>(r.dominant.size()) ? csv_number(r.dominant[n - 1].ratio) : "");
    for (const TensorStatistics& t : w.tensors)
      out << "," << csv_number(t.JT.mean) << "," << csv_number(t.JT.skewness) << "," << csv_number(t.JT.frac_negative)
          << "," << csv_number(t.JT.frac_zero) << "," << csv_number(t.J.excess_kurtosis) << "," << csv_number(t.T.excess_kurtosis);
    out << "," << csv_number(r.radius.estimate) << "\n";
  }
  return out.str();
}

void write_dominance_plots(const std::string& dir, const std::vector<WidthAnalysis>& widths) {
  namespace fs = std::filesystem;
  auto path = [&](const char* name) { return (fs::path(dir) / name).string(); };
  plot::LineChart magnitudes{"|term| of S_2 and S_3 at theta* (eval split)", "hidden width H", "|term|", true, true, {}};
  plot::LineChart shares{"share |term| / sum |terms| within S_2 and S_3", "hidden width H", "share", true, false, {}};
  plot::LineChart counts{"products in each term's sum (MATH.md 5)", "hidden width H", "products", true, true, {}};
  plot::LineChart ratio{"D_{n+1} / S_{n+1} at theta*", "hidden width H", "D/S", true, false, {}};
  if (widths.empty()) return;
  auto add_terms = [&](auto member) {
    const std::vector<TermShare>& first = widths.front().*member;
    for (size_t k = 0; k < first.size(); ++k) {
      plot::Series m{first[k].name, {}, {}}, s{first[k].name, {}, {}}, c{first[k].name, {}, {}};
      for (const WidthAnalysis& w : widths) {
        const TermShare& t = (w.*member)[k];
        const double h = static_cast<double>(w.H);
        m.x.push_back(h), m.y.push_back(std::fabs(t.value));
        s.x.push_back(h), s.y.push_back(t.abs_share);
        c.x.push_back(h), c.y.push_back(t.count);
      }
      magnitudes.series.push_back(m), shares.series.push_back(s), counts.series.push_back(c);
    }
  };
  add_terms(&WidthAnalysis::S2_terms);
  add_terms(&WidthAnalysis::S3_terms);
  for (int n = 1; n <= 4; ++n) {
    plot::Series s{"n = " + std::to_string(n), {}, {}};
    for (const WidthAnalysis& w : widths)
      if (n <= static_cast<int>(w.expansion.dominant.size()))
        s.x.push_back(static_cast<double>(w.H)), s.y.push_back(w.expansion.dominant[n - 1].ratio);
    ratio.series.push_back(s);
  }
  plot::write_line_chart(path("term_magnitudes.png"), magnitudes);
  plot::write_line_chart(path("term_shares.png"), shares);
  plot::write_line_chart(path("subterm_counts.png"), counts);
  plot::write_line_chart(path("dominant_ratio.png"), ratio);
}

}  // namespace taylorscope
