// --labels rules: the CSV and JSON forms, every validation error (naming the
// file, the rule and the field), and matching (first match wins, either
// direction, the time window's edges, IPv6, the BENIGN default).
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "flow_csv_cells.hpp"
#include "sniffer/flow_labels.hpp"
#include "temp_dir.hpp"

namespace sniffer::test {
namespace {

// 2017-07-05T12:00:00Z
constexpr std::uint64_t kNoon = 1499256000ull * 1'000'000'000ull;

v1::FlowRecord flow(const std::string& src, std::uint32_t sport, const std::string& dst, std::uint32_t dport,
                    std::uint32_t protocol = 6, std::uint64_t start_ns = kNoon) {
  v1::FlowRecord r;
  r.set_src_addr(src.find(':') == std::string::npos ? addr4(src.c_str()) : addr6(src.c_str()));
  r.set_dst_addr(dst.find(':') == std::string::npos ? addr4(dst.c_str()) : addr6(dst.c_str()));
  r.set_src_port(sport);
  r.set_dst_port(dport);
  r.set_l4_protocol(protocol);
  r.set_start_ns(start_ns);
  return r;
}

// The problems of a rules text, or a failure when it is accepted.
std::vector<std::string> problems_of(const std::string& text, const std::string& file) {
  try {
    if (file.ends_with(".csv")) parse_flow_labels_csv(text, file);
    else parse_flow_labels_json(text, file);
  } catch (const LabelsInvalid& e) {
    EXPECT_NE(std::string(e.what()).find("invalid labels file \"" + file + "\""), std::string::npos) << e.what();
    return e.problems();
  }
  ADD_FAILURE() << file << " accepted:\n" << text;
  return {};
}

std::string only_problem(const std::string& text, const std::string& file) {
  const std::vector<std::string> problems = problems_of(text, file);
  EXPECT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
  return problems.empty() ? "" : problems.front();
}

// ---- reading ---------------------------------------------------------------

TEST(FlowLabels, CsvRulesAreReadWithEveryField) {
  const FlowLabels labels = parse_flow_labels_csv(
      "\xEF\xBB\xBF# attacks of the day\r\n"
      "start,end,src,dst,src_port,dst_port,protocol,direction,label\r\n"
      "\r\n"
      "2017-07-05T09:00:00-03:00,1499263200.5,172.16.0.1/32,192.168.10.0/24,,80,TCP,either,DoS Hulk\r\n"
      " ,  , 2001:db8::/32 ,,1024-65535,53,17,, \"DNS tunnel\" \r\n",
      "rules.csv");
  ASSERT_EQ(labels.rules().size(), 2u);
  const LabelRule& a = labels.rules()[0];
  EXPECT_EQ(a.start_ns, kNoon);  // 09:00 at -03:00
  EXPECT_EQ(a.end_ns, 1499263200'500000000ull);
  EXPECT_EQ(a.src->text(), "172.16.0.1/32");
  EXPECT_EQ(a.dst->text(), "192.168.10.0/24");
  EXPECT_EQ(a.src_port.lo, 0);
  EXPECT_EQ(a.src_port.hi, 65535);
  EXPECT_EQ(a.dst_port.lo, 80);
  EXPECT_EQ(a.dst_port.hi, 80);
  EXPECT_EQ(a.protocol, 6);
  EXPECT_EQ(a.direction, LabelDirection::Either);
  EXPECT_EQ(a.label, "DoS Hulk");
  const LabelRule& b = labels.rules()[1];
  EXPECT_EQ(b.start_ns, 0u);
  EXPECT_EQ(b.end_ns, UINT64_MAX);
  EXPECT_EQ(b.src->text(), "2001:db8::/32");
  EXPECT_FALSE(b.dst);
  EXPECT_EQ(b.src_port.lo, 1024);
  EXPECT_EQ(b.protocol, 17);
  EXPECT_EQ(b.direction, LabelDirection::Forward);
  EXPECT_EQ(b.label, "DNS tunnel");
}

TEST(FlowLabels, JsonRulesAreReadWithEveryField) {
  const FlowLabels labels = parse_flow_labels_json(R"({
    // comments are allowed, as in the config
    "rules": [
      {"start": "2017-07-05T12:00:00.25Z", "end": 1499263200, "src": "172.16.0.1", "dst": "192.168.10.0/24",
       "dst_port": 80, "src_port": "1024-2048", "protocol": "icmp", "direction": "forward", "label": "PortScan"},
      {"label": "Infiltration", "protocol": 58}
    ]})",
                                                   "rules.json");
  ASSERT_EQ(labels.rules().size(), 2u);
  const LabelRule& a = labels.rules()[0];
  EXPECT_EQ(a.start_ns, kNoon + 250'000'000ull);
  EXPECT_EQ(a.end_ns, 1499263200ull * 1'000'000'000ull);
  EXPECT_EQ(a.src->text(), "172.16.0.1/32");
  EXPECT_EQ(a.src_port.lo, 1024);
  EXPECT_EQ(a.src_port.hi, 2048);
  EXPECT_EQ(a.dst_port.lo, 80);
  EXPECT_EQ(a.protocol, 1);
  EXPECT_EQ(a.label, "PortScan");
  EXPECT_EQ(labels.rules()[1].protocol, 58);
  EXPECT_FALSE(labels.rules()[1].src);
}

TEST(FlowLabels, AHeaderWithoutRulesIsValidAndLabelsNothing) {
  const FlowLabels labels = parse_flow_labels_csv("src,label\n", "none.csv");
  EXPECT_TRUE(labels.rules().empty());
  EXPECT_EQ(labels.label_of(flow("10.0.0.1", 1, "10.0.0.2", 2)), "BENIGN");
}

// ---- validation: each problem names the file, the rule and the field ---------

TEST(FlowLabels, EachFieldErrorNamesFileRuleAndField) {
  struct Case {
    std::string json_rule;    // one rule of a JSON file, its second
    std::string csv_row;      // the same rule under the CSV header below, its second
    std::string field_error;  // "FIELD: reason" as both report it
  };
  const std::string header = "start,end,src,dst,src_port,dst_port,protocol,direction,label\n";
  const std::string ok_json = R"({"label": "ok"})", ok_csv = ",,,,,,,,ok\n";
  const Case cases[] = {
      {R"({"src": "10.0.0.300/8", "label": "x"})", ",,10.0.0.300/8,,,,,,x",
       "src: prefix \"10.0.0.300/8\": not an IPv4 or IPv6 address"},
      {R"({"dst": "10.0.0.0/33", "label": "x"})", ",,,10.0.0.0/33,,,,,x", "dst: prefix \"10.0.0.0/33\": length 33 > 32"},
      {R"({"dst": "10.0.0.1/8", "label": "x"})", ",,,10.0.0.1/8,,,,,x", "dst: prefix \"10.0.0.1/8\": host bits set"},
      {R"({"dst_port": 70000, "label": "x"})", ",,,,,70000,,,x", "dst_port: port 70000 out of range (0-65535)"},
      {R"({"src_port": "80-65536", "label": "x"})", ",,,,80-65536,,,,x", "src_port: port 65536 out of range"},
      {R"({"src_port": "90-80", "label": "x"})", ",,,,90-80,,,,x", "src_port: \"90-80\": the range's first port is above"},
      {R"({"dst_port": "http", "label": "x"})", ",,,,,http,,,x", "dst_port: \"http\": expected a port (80) or a range"},
      {R"({"protocol": "gre", "label": "x"})", ",,,,,,gre,,x", "protocol: unknown protocol \"gre\""},
      {R"({"protocol": 256, "label": "x"})", ",,,,,,256,,x", "protocol: protocol 256 out of range (0-255)"},
      {R"({"direction": "both", "label": "x"})", ",,,,,,,both,x", "direction: \"both\": expected \"forward\""},
      {R"({"start": "2017-07-05T09:00:00", "label": "x"})", "2017-07-05T09:00:00,,,,,,,,x",
       "start: \"2017-07-05T09:00:00\": no time zone"},
      {R"({"end": "2017-02-30T00:00:00Z", "label": "x"})", ",2017-02-30T00:00:00Z,,,,,,,x",
       "end: \"2017-02-30T00:00:00Z\": no such date or time"},
      {R"({"start": "yesterday", "label": "x"})", "yesterday,,,,,,,,x", "start: \"yesterday\": expected RFC 3339"},
      {R"({"start": "1969-12-31T23:59:59Z", "label": "x"})", "1969-12-31T23:59:59Z,,,,,,,,x",
       "start: \"1969-12-31T23:59:59Z\": before 1970"},
      {R"({"start": "2017-07-05T09:00:00+24:00", "label": "x"})", "2017-07-05T09:00:00+24:00,,,,,,,,x",
       "start: \"2017-07-05T09:00:00+24:00\": time zone offset out of range"},
      {R"({"end": 99999999999, "label": "x"})", ",99999999999,,,,,,,x", "end: \"99999999999\": epoch seconds beyond"},
      {R"({"start": 1499263200, "end": "2017-07-05T12:00:00Z", "label": "x"})",
       "1499263200,2017-07-05T12:00:00Z,,,,,,,x", "end: not after start"},
      {R"({"start": 1499263200, "end": 1499263200, "label": "x"})", "1499263200,1499263200,,,,,,,x",
       "end: not after start"},
      {R"({"label": ""})", ",,,,,,,,", "label: empty label"},
      {R"({"label": "DoS, slow"})", ",,,,,,,,\"DoS, slow\"", "label: a label may not hold a comma"},
      {R"({"label": "two\nlines"})", ",,,,,,,,\"a\"\"b\"", "label: a label may not hold a comma, a quote or a control"},
      {R"({"src": "10.0.0.0/8", "dst": "2001:db8::/32", "label": "x"})", ",,10.0.0.0/8,2001:db8::/32,,,,,x",
       "dst: src and dst are of different address families"},
      {R"({"src_port": 80})", ",,,,80,,,,", "label: "},  // JSON: missing; CSV: empty
  };
  for (const Case& c : cases) {
    const std::string json_error = only_problem(R"({"rules": [)" + ok_json + "," + c.json_rule + "]}", "r.json");
    EXPECT_EQ(json_error.rfind("r.json: rule 2 (rules[1]): " + c.field_error, 0), 0u) << json_error;
    const std::string csv_error = only_problem(header + ok_csv + c.csv_row + "\n", "r.csv");
    EXPECT_EQ(csv_error.rfind("r.csv: rule 2 (line 3): " + c.field_error, 0), 0u) << csv_error;
  }
}

TEST(FlowLabels, UnknownFieldsAreNamed) {
  EXPECT_EQ(only_problem(R"({"rules": [{"label": "x", "srcport": 80}]})", "r.json").rfind(
                "r.json: rule 1 (rules[0]): srcport: unknown field (expected start, end, src, dst", 0),
            0u);
  EXPECT_EQ(only_problem("src,srcport,label\n10.0.0.1,80,x\n", "r.csv")
                .rfind("r.csv: line 1 (the header): column \"srcport\": unknown field", 0),
            0u);
  EXPECT_EQ(only_problem(R"({"rules": [], "default": "x"})", "r.json"), "r.json: default: unknown field (expected \"rules\")");
}

TEST(FlowLabels, StructuralErrorsAreNamed) {
  EXPECT_EQ(only_problem("src,dst\n10.0.0.1,10.0.0.2\n", "r.csv"),
            "r.csv: line 1 (the header): no \"label\" column: every rule needs a label");
  EXPECT_EQ(only_problem("src,label\n10.0.0.1\n", "r.csv"), "r.csv: rule 1 (line 2): 1 cell, the header has 2");
  EXPECT_EQ(only_problem("src,label,label\n", "r.csv"), "r.csv: line 1 (the header): column \"label\": given twice");
  EXPECT_EQ(only_problem("src,label\n10.0.0.1,\"open\n", "r.csv"),
            "r.csv: rule 1 (line 2): a quote is not closed on its line");
  EXPECT_EQ(only_problem("# only a comment\n\n", "r.csv").rfind("r.csv: no header line", 0), 0u);
  EXPECT_EQ(only_problem(R"({"rules": [{"label": "x", "label": "y"}]})", "r.json"),
            "r.json: rule 1 (rules[0]): label: given twice");
  EXPECT_EQ(only_problem(R"({"rules": [{"label": "x"}, {"src": "10.0.0.1", "label": "x", "src": "10.0.0.2"}]})",
                         "r.json"),
            "r.json: rule 2 (rules[1]): src: given twice");
  EXPECT_EQ(only_problem(R"({"rules": [], "rules": []})", "r.json"), "r.json: rules: given twice");
  EXPECT_EQ(only_problem(R"({"rules": [{"end": 0, "label": "x"}]})", "r.json"),
            "r.json: rule 1 (rules[0]): end: not after start: the window [start, end) would be empty");
  EXPECT_EQ(only_problem(R"({"rules": ["x"]})", "r.json"), "r.json: rule 1 (rules[0]): expected an object of fields, got string");
  EXPECT_EQ(only_problem(R"({"rules": [{"label": "x", "src": ["10.0.0.1"]}]})", "r.json"),
            "r.json: rule 1 (rules[0]): src: expected a string or a number, got array");
  EXPECT_EQ(only_problem(R"([{"label": "x"}])", "r.json").rfind("r.json: expected an object with an array of rules", 0), 0u);
  EXPECT_EQ(only_problem(R"({"rules": [)", "r.json").rfind("r.json: not valid JSON: ", 0), 0u);
  // Nesting: at most 32 levels (a rules file needs 3, then 29 arrays); 16 MB of "[" would
  // otherwise hold 8 million levels in memory.
  auto nested = [](std::size_t arrays) {
    return R"({"rules": [{"label": "x", "src": )" + std::string(arrays, '[') + std::string(arrays, ']') + "}]}";
  };
  EXPECT_EQ(only_problem(nested(29), "r.json"), "r.json: rule 1 (rules[0]): src: expected a string or a number, got array");
  EXPECT_EQ(only_problem(nested(29 + 1), "r.json"),
            "r.json: not valid JSON: nested deeper than 32 levels (arrays and objects; a rules file needs 3)");
  EXPECT_EQ(only_problem(nested(100000), "r.json"),
            "r.json: not valid JSON: nested deeper than 32 levels (arrays and objects; a rules file needs 3)");
}

TEST(FlowLabels, EveryProblemIsListedNotJustTheFirst) {
  const std::vector<std::string> problems =
      problems_of("src,dst_port,label\n10.0.0.0/33,80,ok\n10.0.0.1,99999,\n10.0.0.2,1,fine\n", "r.csv");
  ASSERT_EQ(problems.size(), 3u) << ::testing::PrintToString(problems);
  EXPECT_EQ(problems[0].rfind("r.csv: rule 1 (line 2): src: ", 0), 0u);
  EXPECT_EQ(problems[1].rfind("r.csv: rule 2 (line 3): dst_port: ", 0), 0u);
  EXPECT_EQ(problems[2].rfind("r.csv: rule 2 (line 3): label: empty label", 0), 0u);
}

TEST(FlowLabels, FilesAreToldByExtensionAndReadErrorsNamed) {
  TempDir dir("flow_labels");
  const std::string csv = (dir.path / "Rules.CSV").string(), json = (dir.path / "rules.json").string();
  std::ofstream(csv) << "dst,label\n10.0.0.2,A\n";
  std::ofstream(json) << R"({"rules": [{"dst": "10.0.0.2", "label": "B"}]})";
  EXPECT_EQ(load_flow_labels(csv).label_of(flow("10.0.0.1", 1, "10.0.0.2", 2)), "A");
  EXPECT_EQ(load_flow_labels(json).label_of(flow("10.0.0.1", 1, "10.0.0.2", 2)), "B");
  auto error_of = [](const std::string& path) -> std::string {
    try {
      load_flow_labels(path);
    } catch (const LabelsInvalid& e) {
      return e.problems().front();
    }
    return "accepted";
  };
  const std::string txt = (dir.path / "rules.txt").string();
  std::ofstream(txt) << "dst,label\n";
  EXPECT_EQ(error_of(txt), txt + ": unknown format: the file name must end in .csv or .json");
  const std::string missing = (dir.path / "missing.csv").string();
  EXPECT_EQ(error_of(missing), "cannot read labels file \"" + missing + "\": No such file or directory (errno 2)");
  const std::string directory = (dir.path / "dir.json").string();
  std::filesystem::create_directory(directory);
  EXPECT_EQ(error_of(directory).rfind("cannot read labels file \"" + directory + "\": Is a directory", 0), 0u);
}

// A FIFO where the rules file was expected is refused at once: opening it
// waited for a writer, for good if none came (noticed in round 18).
TEST(FlowLabels, AFifoIsRefusedWithoutWaitingForAWriter) {
  TempDir dir("flow_labels");
  const std::string fifo = (dir.path / "rules.csv").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto loaded = std::async(std::launch::async, [&]() -> std::string {
    try {
      load_flow_labels(fifo);
    } catch (const LabelsInvalid& e) {
      return e.problems().front();
    }
    return "accepted";
  });
  if (loaded.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    std::ofstream(fifo) << "dst,label\n";  // the writer it waits for, so that the test ends
    FAIL() << "load_flow_labels waited in the open of a FIFO";
  }
  EXPECT_EQ(loaded.get(), "cannot read labels file \"" + fifo + "\": not a regular file (a FIFO or a device is not read)");
}

// ---- matching ----------------------------------------------------------------

TEST(FlowLabels, FirstMatchWinsAndNoMatchIsBenign) {
  const FlowLabels labels = parse_flow_labels_csv(
      "src,dst,dst_port,protocol,label\n"
      "192.168.10.5,,,,BENIGN\n"  // an exception carved out before the broader rule
      "192.168.10.0/24,205.174.165.73,8080,tcp,Botnet\n"
      "192.168.10.0/24,205.174.165.73,,,Botnet-other\n",
      "r.csv");
  EXPECT_EQ(labels.label_of(flow("192.168.10.5", 40000, "205.174.165.73", 8080)), "BENIGN");
  EXPECT_EQ(labels.label_of(flow("192.168.10.9", 40000, "205.174.165.73", 8080)), "Botnet");
  EXPECT_EQ(labels.label_of(flow("192.168.10.9", 40000, "205.174.165.73", 8080, 17)), "Botnet-other");
  EXPECT_EQ(labels.label_of(flow("192.168.10.9", 40000, "205.174.165.73", 443)), "Botnet-other");
  EXPECT_EQ(labels.label_of(flow("192.168.11.9", 40000, "205.174.165.73", 8080)), "BENIGN");
  EXPECT_EQ(labels.label_of(flow("205.174.165.73", 8080, "192.168.10.9", 40000)), "BENIGN") << "forward only";
}

TEST(FlowLabels, EitherDirectionMatchesBothOrientationsWithTheirPorts) {
  const FlowLabels labels = parse_flow_labels_csv(
      "src,dst,src_port,dst_port,direction,label\n172.16.0.1,192.168.10.50,,80,either,DoS\n", "r.csv");
  EXPECT_EQ(labels.label_of(flow("172.16.0.1", 40000, "192.168.10.50", 80)), "DoS");
  EXPECT_EQ(labels.label_of(flow("192.168.10.50", 80, "172.16.0.1", 40000)), "DoS");
  // The port goes with its address: the victim's port 80, not the attacker's.
  EXPECT_EQ(labels.label_of(flow("192.168.10.50", 40000, "172.16.0.1", 80)), "BENIGN");
  EXPECT_EQ(labels.label_of(flow("172.16.0.1", 80, "192.168.10.50", 40000)), "BENIGN");
}

TEST(FlowLabels, TheWindowIsHalfOpenOnTheFlowStart) {
  const FlowLabels labels = parse_flow_labels_json(
      R"({"rules": [{"start": "2017-07-05T12:00:00Z", "end": "2017-07-05T12:00:01Z", "label": "in"}]})", "r.json");
  auto at = [&](std::uint64_t ns) { return labels.label_of(flow("10.0.0.1", 1, "10.0.0.2", 2, 6, ns)); };
  EXPECT_EQ(at(kNoon - 1), "BENIGN");
  EXPECT_EQ(at(kNoon), "in");
  EXPECT_EQ(at(kNoon + 999'999'999), "in");
  EXPECT_EQ(at(kNoon + 1'000'000'000), "BENIGN");
  const FlowLabels open_ended =
      parse_flow_labels_csv("start,label\n2017-07-05T14:00:00+02:00,after\n", "r.csv");  // 12:00Z
  EXPECT_EQ(open_ended.label_of(flow("10.0.0.1", 1, "10.0.0.2", 2, 6, kNoon - 1)), "BENIGN");
  EXPECT_EQ(open_ended.label_of(flow("10.0.0.1", 1, "10.0.0.2", 2, 6, UINT64_MAX - 1)), "after");
}

TEST(FlowLabels, Ipv6PrefixesMatchOnlyIpv6Flows) {
  const FlowLabels labels =
      parse_flow_labels_csv("src,dst,protocol,label\n2001:db8:1::/48,,icmpv6,v6 scan\n,::/0,,any v6\n", "r.csv");
  EXPECT_EQ(labels.label_of(flow("2001:db8:1:2::7", 128, "2001:db8:ffff::1", 0, 58)), "v6 scan");
  EXPECT_EQ(labels.label_of(flow("2001:db8:2::7", 128, "2001:db8:ffff::1", 0, 58)), "any v6");
  EXPECT_EQ(labels.label_of(flow("10.0.0.1", 8, "10.0.0.2", 0, 1)), "BENIGN") << "::/0 holds no IPv4 address";
  const FlowLabels any = parse_flow_labels_csv("protocol,label\nudp,all udp\n", "r.csv");
  EXPECT_EQ(any.label_of(flow("2001:db8::1", 5353, "ff02::fb", 5353, 17)), "all udp") << "no prefix: any family";
  EXPECT_EQ(any.label_of(flow("10.0.0.1", 53, "10.0.0.2", 53, 17)), "all udp");
}

// ---- the CSV output ----------------------------------------------------------

TEST(FlowLabels, TheLabelColumnIsLastAndOnlyWhenAsked) {
  v1::FlowRecord r = tcp_record();
  r.set_label("DoS Hulk");
  const std::string plain = flow_csv_header();
  EXPECT_EQ(flow_csv_header(false), plain);
  EXPECT_EQ(flow_csv_header(true), plain.substr(0, plain.size() - 1) + ",Label\n");
  const std::string row = flow_csv_row(r, true);
  EXPECT_EQ(row, flow_csv_row(r).substr(0, flow_csv_row(r).size() - 1) + ",DoS Hulk\n");
  EXPECT_EQ(parse_csv_line(row).size(), parse_csv_line(flow_csv_header(true)).size());
  EXPECT_EQ(flow_csv_row(r).find("DoS Hulk"), std::string::npos);
}

}  // namespace
}  // namespace sniffer::test
