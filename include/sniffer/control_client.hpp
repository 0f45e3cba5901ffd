// The client side of the control socket, for `sniffer block add|del|list`
// (and for tests): one CURVE-authenticated request, one reply.
#pragma once

#include <iosfwd>
#include <string>

#include "sniffer.pb.h"
#include "sniffer/terminal_text.hpp"  // what a reply's text is printed through

namespace sniffer {

struct ControlClientOptions {
  std::string endpoint;    // control.endpoint of the sensor
  std::string server_key;  // the sensor's public key: Z85 text or a .pub file
  std::string key_file;    // this client's secret key file (mode 0600)
  std::string requester;   // a name for the logs (the key is logged too)
  int timeout_ms = 5000;
};

// Sends `request` and waits for the reply. Throws Error when nothing comes
// back in time, with the likely reasons (a wrong server key, a client key the
// sensor does not allow, no sensor at the endpoint).
v1::ControlReply send_control_request(const ControlClientOptions& options, const v1::ControlRequest& request);

// Prints the reply for a shell user (entries as a table, its text through
// terminal_text); returns the exit status: 0 for OK, 1 otherwise.
int print_control_reply(const v1::ControlReply& reply, std::ostream& out, std::ostream& err);

}  // namespace sniffer
