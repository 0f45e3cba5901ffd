// The process's ZeroMQ runtime: one context for every socket of a run (the
// publisher, the control socket) and its ZAP handler, created on first use.
// Declared before the sockets that use it, so that it outlives them: the ZAP
// handler stops once they are closed, and the context terminates last.
#pragma once

#include <optional>

#include <zmq.hpp>

#include "sniffer/curve_auth.hpp"

namespace sniffer {

class ZmqRuntime {
 public:
  zmq::context_t& context() { return context_; }
  // The ZAP handler: every CURVE server socket calls allow(its domain, its
  // keys) before it binds.
  ZapAuthenticator& authenticator() {
    if (!auth_) auth_.emplace(context_);
    return *auth_;
  }
  // Null until a CURVE socket asked for it.
  const ZapAuthenticator* authenticator_if_used() const { return auth_ ? &*auth_ : nullptr; }

 private:
  zmq::context_t context_{1};
  std::optional<ZapAuthenticator> auth_;  // destroyed before the context
};

}  // namespace sniffer
