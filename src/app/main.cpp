// sniffer: dual-NIC XDP/TC sensor daemon. The data path starts in
// run_daemon() (src/daemon.cpp): load -> attach -> RingReader -> Pipeline (events, flows) -> ZeroMQ.
//
// Exit codes (also of the keygen and block subcommands): 0 success (and
// --help, --version); 1 a runtime or configuration error (the config file,
// a key file, the resulting configuration, the kernel, a socket);
// 2 a usage error (an unknown option, a bad option value, missing options).
#include <bpf/libbpf.h>

#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "sniffer/abi.h"
#include "sniffer/block_cli.hpp"
#include "sniffer/capture_cli.hpp"
#include "sniffer/bpf_loader.hpp"
#include "sniffer/config.hpp"
#include "sniffer/config_owner.hpp"
#include "sniffer/config_schema.hpp"
#include "sniffer/curve_keys.hpp"
#include "sniffer/daemon.hpp"
#include "sniffer/error.hpp"
#include "sniffer/flow_labels.hpp"
#include "sniffer/host_check.hpp"
#include "sniffer/logging.hpp"
#include "sniffer/output_file.hpp"
#include "sniffer/output_target.hpp"
#include "sniffer/pcap_replay.hpp"
#include "sniffer/terminal_text.hpp"

namespace {

constexpr int kExitError = 1;  // runtime or configuration error
constexpr int kExitUsage = 2;  // unknown option, bad option value

// One line per problem, for an option's error message.
std::string problems_text(const sniffer::ConfigInvalid& e) {
  std::string text;
  for (const auto& err : e.errors()) text += (text.empty() ? "" : "; ") + err.path + ": " + err.message;
  return text;
}

// An option value that must be NAME:ROLE:MODE (a usage error otherwise).
// CLI11 names the option: the message starts at the value.
CLI::Validator interface_spec_check() {
  return CLI::Validator(
      [](std::string& spec) -> std::string {
        try {
          (void)sniffer::parse_interface_spec(spec);
          return {};
        } catch (const sniffer::ConfigInvalid& e) {
          const std::string option = "--interface ";
          std::string text;
          for (const auto& err : e.errors()) {
            const std::string& path = err.path.rfind(option, 0) == 0 ? err.path.substr(option.size()) : err.path;
            text += (text.empty() ? "" : "; ") + path + ": " + err.message;
          }
          return text;
        }
      },
      /*validator_desc=*/"");
}

// What the command line sets.
struct CommandLine {
  std::string config_path;
  std::vector<std::string> interface_specs;
  std::vector<std::string> read_pcap;  // files, directories, patterns, "-"
  std::string pcap_interface, write_csv, engine, labels, log_format = "text";
  double wait_subscriber_s = 0;
  bool progress = false;  // --progress
  unsigned jobs = 1;      // -j
  bool dry_run = false, print_config = false, print_reference = false, version = false, check = false;
  int verbosity = 0;
  CLI::App* keygen = nullptr;  // the keygen subcommand
  std::string keygen_prefix;
};

// The config and the modes: --config, --interface, the offline options,
// --check, --dry-run, --print-config.
void add_mode_options(CLI::App& app, CommandLine& cl) {
  // Not CLI::ExistingFile: a config file that cannot be read is a config
  // error (exit 1) naming the errno text, like the same file at SIGHUP.
  app.add_option("-c,--config", cl.config_path, "JSON config file (sniffer.json)");
  app.add_option("-i,--interface", cl.interface_specs,
                 "NAME:ROLE:MODE, e.g. eth0:wan:gateway; replaces the config's interface of that name, or adds one")
      ->check(interface_spec_check())
      ->type_name("NAME:ROLE:MODE");
  auto* pcap_opt = app.add_option("--read-pcap", cl.read_pcap,
                                  "offline: run capture files (pcap, pcapng) through the programs and the flow table, "
                                  "merged in timestamp order into one stream; each a file, a directory (its *.pcap, "
                                  "*.pcapng, *.cap), a quoted glob pattern, or - for standard input")
                      ->type_name("FILE|DIR|-");
  app.add_option("--pcap-interface", cl.pcap_interface,
                 "offline: NAME:ROLE:MODE the capture is attributed to (default: the first configured interface, "
                 "else pcap0:wan:gateway)")
      ->check(interface_spec_check())
      ->type_name("NAME:ROLE:MODE")
      ->needs(pcap_opt);
  auto* csv_opt = app.add_option("--write-csv", cl.write_csv,
                                 "offline: write flow records to this CSV file instead of publishing")
                      ->needs(pcap_opt);
  app.add_option("--engine", cl.engine,
                 "offline: what runs the XDP program on each packet: user (its C source compiled into sniffer, "
                 "no syscall per packet; the default) or kernel (the loaded program, one BPF_PROG_TEST_RUN per "
                 "packet)")
      ->check(CLI::IsMember({"user", "kernel"}))
      ->needs(pcap_opt);
  app.add_option("--labels", cl.labels,
                 "offline: label every flow by the first rule it matches in this CSV or JSON file (time window, "
                 "prefixes, ports, protocol -> label; default BENIGN): a Label column and FlowRecord.label")
      ->type_name("RULES")
      ->needs(pcap_opt);
  app.add_option("-j,--jobs", cl.jobs,
                 "offline, with --write-csv: the captures are unrelated (no flow crosses from one to another): split "
                 "them into N groups of about equal size, run each in its own process, and write one table (default 1: "
                 "one stream merged by timestamp)")
      ->check(CLI::Range(1, 256))
      ->type_name("N")
      ->needs(pcap_opt)
      ->needs(csv_opt);
  app.add_option("--wait-subscriber", cl.wait_subscriber_s,
                 "offline, publishing: wait up to this many seconds for a subscriber to every published topic "
                 "before the first packet (default 0: publish at once; what nobody hears is counted as unsubscribed)")
      ->check(CLI::Range(0.0, 3600.0))
      ->needs(pcap_opt)
      ->excludes(csv_opt);
  app.add_flag("--progress", cl.progress,
               "offline (with --read-pcap only): draw the progress bar on stderr even when it is not a terminal (on a terminal it is "
               "always drawn; the summary line at the end always is)")
      ->needs(pcap_opt);
  auto* check_opt = app.add_flag("--check", cl.check,
               "diagnose this host for the config (kernel, BTF, bpffs, capabilities, interfaces, XDP modes, "
               "libxdp dispatcher); exit 1 on a blocking problem");
  auto* dry_run_opt =
      app.add_flag("--dry-run", cl.dry_run, "validate, load and verify the programs, fill the maps; attach nothing");
  auto* print_opt =
      app.add_flag("--print-config", cl.print_config, "print the effective config (defaults filled in) and exit");
  // Hidden: README.md's "Configuration reference" table, from the key tables.
  app.add_flag("--print-config-reference", cl.print_reference)->group("");
  // Modes that would silently ignore each other are refused together.
  pcap_opt->excludes(check_opt)->excludes(dry_run_opt)->excludes(print_opt);
  check_opt->excludes(dry_run_opt)->excludes(print_opt);
  dry_run_opt->excludes(print_opt);
}

// --version, the logging options and the keygen subcommand.
void add_general_options(CLI::App& app, CommandLine& cl) {
  app.add_flag("--version", cl.version, "print program, ABI and libbpf versions and exit");
  app.add_flag("-v,--verbose", cl.verbosity, "more logging (-vv: libbpf and verifier detail)");
  app.add_option("--log-format", cl.log_format, "text, or json: one JSON object per log line")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cl.keygen = app.add_subcommand("keygen", "write a CURVE key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub");
  cl.keygen->add_option("--out", cl.keygen_prefix, "path prefix of the two files (never overwritten)")->required();
}

int run_keygen(const std::string& prefix) {
  try {
    sniffer::CurveKeyPair keys = sniffer::generate_keypair();
    auto [key_path, pub_path] = sniffer::write_keypair_files(prefix, keys);
    std::cerr << "sniffer keygen: wrote " << key_path << " (secret, mode 0600) and " << pub_path << "\n";
    std::cout << keys.public_z85 << std::endl;  // the public key, for scripts
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "sniffer keygen: " << e.what() << "\n";
    return kExitError;
  }
}

int print_version() {
  std::cout << "sniffer " << SNIFFER_VERSION << " (record ABI " << SNIFFER_ABI_VERSION << ", libbpf "
            << libbpf_major_version() << "." << libbpf_minor_version() << ")" << std::endl;
  return 0;
}

// --read-pcap's options; the capture's interface is --pcap-interface, else
// the config's first, else pcap0:wan:gateway.
sniffer::OfflineOptions offline_options(const CommandLine& cl, const sniffer::Config& config) {
  sniffer::OfflineOptions offline{
      .pcap_inputs = cl.read_pcap, .csv_path = cl.write_csv, .wait_subscriber_s = cl.wait_subscriber_s,
      .progress = cl.progress, .jobs = cl.jobs};
  if (!cl.engine.empty()) {
    offline.engine = cl.engine == "user" ? sniffer::ReplayEngine::User : sniffer::ReplayEngine::Kernel;
  }
  if (!cl.pcap_interface.empty()) {
    offline.interface = sniffer::parse_interface_spec(cl.pcap_interface);
  } else if (!config.interfaces.empty()) {
    offline.interface = config.interfaces.front();
  } else {
    offline.interface = sniffer::parse_interface_spec("pcap0:wan:gateway");
  }
  // Before anything is made beside the table (the parts of -j): no other
  // user's link among its directories (red team R17-11).
  if (!cl.write_csv.empty()) sniffer::refuse_foreign_directory_links(cl.write_csv, "--write-csv");
  // Read and checked whole here, before any capture is opened.
  if (!cl.labels.empty()) {
    offline.labels = std::make_shared<const sniffer::FlowLabels>(sniffer::load_flow_labels(cl.labels));
  }
  return offline;
}

// An offline run's errors name capture files, and those of a walked
// directory are named by whoever may write there (red team R17-12): its
// message is escaped whole (none spans lines; the labels file's problems,
// which do, are read before).
int run_offline_escaping_errors(const sniffer::Config& config, const sniffer::OfflineOptions& options) {
  try {
    return sniffer::run_offline(config, options);
  } catch (const std::exception& e) {
    std::cerr << "sniffer: " << sniffer::terminal_text(e.what()) << "\n";
    return kExitError;
  }
}

// Whoever else can change the config steers the sensor at the next reload:
// said at start and at each reload, once (config_owner.hpp).
void warn_of_config_owner(const std::string& path) {
  const std::string warning = sniffer::config_owner_warning(path);
  if (!warning.empty()) spdlog::warn("{}", warning);
}

// Builds the config and runs the mode the command line chose: --print-config,
// --check, --read-pcap, or the daemon (--dry-run included).
int run_configured(const CommandLine& cl, const std::vector<sniffer::InterfaceConfig>& overrides) {
  if (cl.config_path.empty() && cl.interface_specs.empty() && cl.read_pcap.empty()) {
    std::cerr << "sniffer: no interfaces: pass --config FILE or --interface NAME:ROLE:MODE (see --help)\n";
    return kExitUsage;
  }
  try {
    sniffer::Config config =
        cl.config_path.empty() ? sniffer::default_config() : sniffer::load_config_file(cl.config_path);
    // The whole config is validated again with the overrides in it.
    sniffer::apply_interface_overrides(config, overrides);
    if (cl.print_config) {
      sniffer::write_stdout(sniffer::config_to_json(config).dump(2) + "\n");
      return 0;
    }
    sniffer::setup_logging(config.log_level, cl.verbosity, cl.log_format == "json");
    sniffer::route_libbpf_logs();
    if (cl.check) return sniffer::run_host_check(config);
    if (!cl.read_pcap.empty()) return run_offline_escaping_errors(config, offline_options(cl, config));
    sniffer::RunOptions run{.dry_run = cl.dry_run};
    if (!cl.config_path.empty()) {
      warn_of_config_owner(cl.config_path);
      // SIGHUP re-reads the file and applies the same --interface overrides.
      run.reload = [config_path = cl.config_path, overrides] {
        sniffer::Config next = sniffer::load_config_file(config_path);
        warn_of_config_owner(config_path);
        sniffer::apply_interface_overrides(next, overrides);
        return next;
      };
    }
    return sniffer::run_daemon(config, run);
  } catch (const std::exception& e) {  // ConfigInvalid included: a config error is not a usage error
    std::cerr << "sniffer: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace

int main(int argc, char** argv) {
  sniffer::open_closed_standard_descriptors();  // before anything opens a descriptor
  CLI::App app{"sniffer: dual-NIC XDP/TC intrusion-detection sensor"};
  CommandLine cl;
  add_mode_options(app, cl);
  add_general_options(app, cl);
  sniffer::BlockCli block(app);
  sniffer::CaptureCli capture(app);
  app.require_subcommand(0, 1);
  std::vector<sniffer::InterfaceConfig> overrides;
  try {
    app.parse(argc, argv);
    // A name given twice would silently drop the first.
    overrides = sniffer::parse_interface_specs(cl.interface_specs);
  } catch (const CLI::ParseError& e) {
    // --help prints and exits 0; every other parse error is a usage error.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  } catch (const sniffer::ConfigInvalid& e) {
    std::cerr << "sniffer: " << problems_text(e) << "\nRun with --help for more information.\n";
    return kExitUsage;
  }

  if (block.selected()) return block.run();
  if (capture.selected()) return capture.run();
  if (*cl.keygen) return run_keygen(cl.keygen_prefix);
  if (cl.version) return print_version();
  if (cl.print_reference) {
    sniffer::write_stdout(sniffer::config_reference_markdown());
    return 0;
  }
  return run_configured(cl, overrides);
}
