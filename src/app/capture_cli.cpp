#include "sniffer/capture_cli.hpp"

#include "sniffer/block_cli.hpp"

namespace sniffer {

CaptureCli::CaptureCli(CLI::App& app) {
  capture_ = app.add_subcommand("capture", "ask a sensor, through its control socket, for a pcapng capture");
  add_control_client_options(capture_, client_, "sniffer capture");
  capture_->add_option("--filter", filter_,
                       "host|net PREFIX, port N, proto NAME, interface NAME; or \"flow PROTO A:PORT B:PORT\"");
  capture_->add_option("--packets", packets_, "stop after this many packets (0: 10000)")->capture_default_str();
  capture_->add_option("--seconds", seconds_, "stop after this many seconds (0: 60)")->capture_default_str();
  capture_->add_option("--snaplen", snaplen_, "bytes kept of each frame (0: 65535)")->capture_default_str();
  capture_->add_option("-w,--write", file_, "the file's name in the sensor's capture.full_packet_directory")
      ->required();
}

int CaptureCli::run() const {
  v1::ControlRequest request;
  v1::CaptureCommand* cmd = request.mutable_capture();
  cmd->set_filter(filter_);
  cmd->set_packets(packets_);
  cmd->set_seconds(seconds_);
  cmd->set_snaplen(snaplen_);
  cmd->set_file(file_);
  return run_control_request(client_, request, "sniffer capture");
}

}  // namespace sniffer
