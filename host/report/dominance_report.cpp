// The report of `taylorscope dominance`. The term keys are those of
// INTERFACES.md's `expand` report (cc, J_UW, ccc, Ub_c, Z_UW_c, J_UWb, J_UWW).
#include "taylorscope/dominance_report.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <sstream>

#include "plot/charts.hpp"
#include "report/json_number.hpp"
#include "report/not_finite.hpp"
#include "report/report_plots.hpp"
#include "taylorscope/tensor_report.hpp"

namespace taylorscope {
namespace {

nlohmann::json number(double v) { return json_number(v); }

// One order's terms: the SeedTerm fields under the names of its table.
nlohmann::json order_json(const ExpansionResult& r, int order) {
  nlohmann::json t = nlohmann::json::object();
  for (const SeedTerm& s : r.terms.all)
    if (s.order == order)
      t[s.name] = {{"value", number(s.value)}, {"abs_share", number(s.abs_share)},
                   {"of_exact", number(s.of_exact)}, {"count", number(s.count)}};
  return {{"exact", number(r.S_k.at(order))}, {"closed_form_sum", number(r.terms.sum(order))}, {"terms", t}};
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
                    {"S2", order_json(r, 2)},
                    {"S3", order_json(r, 3)},
                    {"dominant", dominant},
                    {"radius", radius_json(r.radius)},
                    {"tensors", tensors},
                    {"device", r.ranks > 1 ? json(r.devices) : json(r.device)}});
  }
  // Every null in the rows is named here, with its width (expansion_warnings, tensor_warnings).
  json warnings = json::array();
  for (const WidthAnalysis& w : widths) {
    for (const std::string& line : w.expansion.warnings) warnings.push_back(line);
    for (const TensorStatistics& t : w.tensors)
      for (const std::string& line : t.warnings) warnings.push_back(line);
  }
  const int ranks = widths.empty() ? 1 : widths.front().expansion.ranks;
  return {{"settings", settings}, {"precision", "float64"}, {"ranks", ranks}, {"widths", rows}, {"warnings", warnings}};
}

namespace {

// A CSV column: its header and how a width's row fills it. The header and
// every row are written from this one list, so no column can drift from its
// name; the seven term columns come from the expansion's term table.
struct CsvColumn {
  std::string name;
  std::function<std::string(const WidthAnalysis&)> cell;
};

std::vector<CsvColumn> csv_columns(const SeedTerms& table) {
  using W = const WidthAnalysis&;
  auto num = [](auto get) { return [get](W w) { return csv_number(get(w)); }; };
  std::vector<CsvColumn> c = {
      {"H", [](W w) { return std::to_string(w.H); }},
      {"chosen_epoch", [](W w) { return std::to_string(w.chosen_epoch); }},
      {"eval_loss", num([](W w) { return w.eval_loss; })},
      {"eval_acc", num([](W w) { return w.eval_acc; })},
      {"S_direct", num([](W w) { return w.expansion.S_direct; })},
  };
  auto terms = [&](int order, const char* prefix, double SeedTerm::*field) {
    for (const SeedTerm& t : table.all)
      if (t.order == order)
        c.push_back({prefix + t.name, num([name = t.name, field](W w) { return w.expansion.terms.at(name).*field; })});
  };
  for (int order : {2, 3}) {
    c.push_back({"S" + std::to_string(order), num([order](W w) { return w.expansion.S_k.at(order); })});
    terms(order, "", &SeedTerm::value);
    terms(order, "abs_share_", &SeedTerm::abs_share);
  }
  for (int order : {2, 3}) terms(order, "count_", &SeedTerm::count);
  for (int n = 1; n <= 4; ++n)
    c.push_back({"D" + std::to_string(n + 1) + "_over_S" + std::to_string(n + 1), [n](W w) {
                   return n <= static_cast<int>(w.expansion.dominant.size()) ? csv_number(w.expansion.dominant[n - 1].ratio)
                                                                             : std::string();
                 }});
  for (int n = 1; n <= 2; ++n) {
    const std::string k = std::to_string(n);
    auto stat = [n](const ElementStats TensorStatistics::*tensor, double ElementStats::*field) {
      return [n, tensor, field](W w) {
        for (const TensorStatistics& t : w.tensors)
          if (t.order == n) return csv_number(t.*tensor.*field);
        return std::string();
      };
    };
    c.push_back({"JT" + k + "_mean", stat(&TensorStatistics::JT, &ElementStats::mean)});
    c.push_back({"JT" + k + "_skewness", stat(&TensorStatistics::JT, &ElementStats::skewness)});
    c.push_back({"JT" + k + "_frac_negative", stat(&TensorStatistics::JT, &ElementStats::frac_negative)});
    c.push_back({"JT" + k + "_frac_zero", stat(&TensorStatistics::JT, &ElementStats::frac_zero)});
    c.push_back({"J" + k + "_excess_kurtosis", stat(&TensorStatistics::J, &ElementStats::excess_kurtosis)});
    c.push_back({"T" + k + "_excess_kurtosis", stat(&TensorStatistics::T, &ElementStats::excess_kurtosis)});
  }
  c.push_back({"radius", num([](W w) { return w.expansion.radius.estimate; })});
  return c;
}

}  // namespace

std::string dominance_csv(const std::vector<WidthAnalysis>& widths) {
  if (widths.empty()) return "";
  const std::vector<CsvColumn> columns = csv_columns(widths.front().expansion.terms);
  std::ostringstream out;
  for (size_t i = 0; i < columns.size(); ++i) out << (i ? "," : "") << columns[i].name;
  out << "\n";
  for (const WidthAnalysis& w : widths) {
    for (size_t i = 0; i < columns.size(); ++i) out << (i ? "," : "") << columns[i].cell(w);
    out << "\n";
  }
  return out.str();
}

std::string dominance_summary_line(const WidthAnalysis& w) {
  const ExpansionResult& r = w.expansion;
  auto num = [](const char* f, double v) {
    if (!std::isfinite(v)) return std::string(kOverflowMark);
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v + 0.0);
    return std::string(buf);
  };
  // The order's largest term by abs share (SeedTerm): the one that "dominates".
  auto largest = [&](int order) {
    const SeedTerm* best = nullptr;
    for (const SeedTerm& t : r.terms.all)
      if (t.order == order && (!best || std::fabs(t.value) > std::fabs(best->value))) best = &t;
    return " (" + best->name + " " + (std::isfinite(best->abs_share) ? num("%.0f%%", 100 * best->abs_share) : "—") + ")";
  };
  char head[128];
  std::snprintf(head, sizeof head, "  H %5lld  epoch %3d  eval %.4f (%.2f%%)", static_cast<long long>(w.H),
                w.chosen_epoch, w.eval_loss, 100 * w.eval_acc);
  std::string line = head;
  line += "  S_2 " + num("%+.3e", r.S_k.at(2)) + largest(2) + "  S_3 " + num("%+.3e", r.S_k.at(3)) + largest(3) + "  D/S";
  for (const DominantTerm& d : r.dominant)
    if (d.n <= 4) line += " " + (d.S == 0 ? std::string("—") : num("%.3f", d.ratio));  // S_{n+1} = 0: no ratio
  return line;
}

void write_dominance_plots(const std::string& dir, const std::vector<WidthAnalysis>& widths) {
  namespace fs = std::filesystem;
  auto path = [&](const char* name) { return (fs::path(dir) / name).string(); };
  plot::LineChart magnitudes{"|term| of S_2 and S_3 at theta* (eval split)", "hidden width H", "|term|", true, true, {}};
  plot::LineChart shares{"abs share: |term| / sum |terms| within S_2 and S_3", "hidden width H", "share", true, false, {}};
  plot::LineChart counts{"products in each term's sum (docs/math.md 5)", "hidden width H", "products", true, true, {}};
  plot::LineChart ratio{"D_{n+1} / S_{n+1} at theta*", "hidden width H", "D/S", true, false, {}};
  if (widths.empty()) return;
  for (const SeedTerm& term : widths.front().expansion.terms.all) {
    plot::Series m{term.name, {}, {}}, s{term.name, {}, {}}, c{term.name, {}, {}};
    for (const WidthAnalysis& w : widths) {
      const SeedTerm& t = w.expansion.terms.at(term.name);
      const double h = static_cast<double>(w.H);
      m.x.push_back(h), m.y.push_back(std::fabs(t.value));
      s.x.push_back(h), s.y.push_back(t.abs_share);
      c.x.push_back(h), c.y.push_back(t.count);
    }
    magnitudes.series.push_back(m), shares.series.push_back(s), counts.series.push_back(c);
  }
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
