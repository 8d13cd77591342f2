/* guest agent */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(AGENT_CONFIG_INVALID, "agent.config_invalid", "agent", INPUT,
  "The guest agent's configuration file is missing, malformed, or names an unknown member or value.")
X(AGENT_BROKER_UNAVAILABLE, "agent.broker_unavailable", "agent", DEPENDENCY,
  "The key broker could not be reached (connection, TLS with the pinned CA, or timeout).")
X(AGENT_BROKER_PROTOCOL, "agent.broker_protocol", "agent", INPUT,
  "The key broker answered outside the KBS 0.4.0 protocol (an unexpected status or body).")
X(AGENT_KEY_MISMATCH, "agent.key_mismatch", "agent", DENY,
  "The sealed artifact names another key ID or version than the agent is configured to fetch.")
X(AGENT_MEMORY_FAILED, "agent.memory_failed", "agent", DEPENDENCY,
  "The in-memory model file (memfd) could not be created, mapped, locked as required, or sealed.")
X(AGENT_HARDENING_FAILED, "agent.hardening_failed", "agent", DEPENDENCY,
  "The process could not be hardened (non-dumpable, no core files, no_new_privs, seccomp filter).")
X(AGENT_SERVER_FAILED, "agent.server_failed", "agent", DEPENDENCY,
  "The model server could not be started, or it exited with a failure.")
X(AGENT_ENDPOINT_FAILED, "agent.endpoint_failed", "agent", DEPENDENCY,
  "The network-facing process (ccgate-endpoint: the status and the inference endpoint) could not be found or started, "
  "could not open its listeners, or exited while the agent ran.")
X(AGENT_CONTROL_INVALID, "agent.control_invalid", "agent", INPUT,
  "A message on the control channel between ccgate-agent and ccgate-endpoint was malformed, too long, unknown or out "
  "of turn; it was refused and the channel closed.")
X(GPU_NVML_UNAVAILABLE, "gpu.nvml_unavailable", "gpu", DEPENDENCY,
  "The GPU is required but NVML (libnvidia-ml.so.1) cannot be loaded or initialised.")
X(GPU_ABSENT, "gpu.absent", "gpu", DENY,
  "The GPU is required but NVML reports no GPU.")
X(GPU_CC_MODE_OFF, "gpu.cc_mode_off", "gpu", DENY,
  "The GPU is required but its confidential-computing mode is off.")
X(GPU_DEVTOOLS_ON, "gpu.devtools_on", "gpu", DENY,
  "The GPU's confidential-computing developer-tools mode is on, which lets tools read GPU memory.")
X(GPU_NVML_ERROR, "gpu.nvml_error", "gpu", DEPENDENCY,
  "An NVML query failed (the message names the function and its return code).")
X(GPU_EVIDENCE_UNAVAILABLE, "gpu.evidence_unavailable", "gpu", DEPENDENCY,
  "NVML returned no attestation evidence for a GPU: its attestation report or certificate chain call failed (the "
  "message names the function, the GPU index and the NVML error).")
X(GPU_ARCH_UNSUPPORTED, "gpu.arch_unsupported", "gpu", DENY,
  "NVML names a GPU architecture without a confidential-computing evidence form ccgate knows (Hopper, Blackwell).")
X(GPU_READY_STATE_FAILED, "gpu.ready_state_failed", "gpu", DEPENDENCY,
  "NVML could not set the GPUs' confidential-computing ready state; the model server is not started (the message names "
  "the NVML error).")
