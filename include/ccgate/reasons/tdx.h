/* Intel TDX: DCAP quote, PCK chain, Intel collateral, status and policy (docs/tdx-quote.md, docs/tdx-policy.md) */
/* An X-macro fragment of ccgate/reason_list.h (no include guard: it is included with X defined). */
X(TDX_QUOTE_VERSION_UNSUPPORTED, "tdx.quote_version_unsupported", "tdx", INPUT,
  "The quote version is not 4 or 5.")
X(TDX_TEE_TYPE_UNSUPPORTED, "tdx.tee_type_unsupported", "tdx", INPUT,
  "The quote's TEE type is not TDX (0x81).")
X(TDX_ATT_KEY_TYPE_UNSUPPORTED, "tdx.att_key_type_unsupported", "tdx", INPUT,
  "The quote's attestation key type is not ECDSA P-256 (2).")
X(TDX_QE_VENDOR_UNKNOWN, "tdx.qe_vendor_unknown", "tdx", INPUT,
  "The quote's QE vendor ID is not Intel's quoting enclave.")
X(TDX_BODY_TYPE_UNSUPPORTED, "tdx.body_type_unsupported", "tdx", INPUT,
  "The v5 quote's body type is not a TD report 1.0 (2) or 1.5 (3).")
X(TDX_BODY_SIZE_INVALID, "tdx.body_size_invalid", "tdx", INPUT,
  "The v5 quote's body size differs from the size of its body type (584 or 648 bytes).")
X(TDX_SIGNATURE_DATA_MALFORMED, "tdx.signature_data_malformed", "tdx", INPUT,
  "The quote's signature data is inconsistent with its length fields (signature, key, certification data, QE report, "
  "QE authentication data).")
X(TDX_CERT_DATA_TYPE_UNSUPPORTED, "tdx.cert_data_type_unsupported", "tdx", INPUT,
  "The certification data is not type 6 (QE report) holding type 5 (the PCK certificate chain).")
X(TDX_UNTRUSTED_ROOT, "tdx.untrusted_root", "tdx", DENY,
  "A certificate chain does not end at the pinned Intel SGX Root CA key (or at a test root that was explicitly named).")
X(TDX_CERT_CHAIN_INVALID, "tdx.cert_chain_invalid", "tdx", DENY,
  "A certificate chain (PCK, TCB signing or CRL issuer) is malformed, incomplete, of the wrong shape or role, or a "
  "link does not verify (the message names the chain).")
X(TDX_CERT_EXPIRED, "tdx.cert_expired", "tdx", DENY,
  "A certificate of the PCK or collateral signing chain has expired at the verification time.")
X(TDX_CERT_NOT_YET_VALID, "tdx.cert_not_yet_valid", "tdx", DENY,
  "A certificate of the PCK or collateral signing chain is not yet valid at the verification time.")
X(TDX_CRL_INVALID, "tdx.crl_invalid", "tdx", DENY,
  "A CRL (root CA or PCK) is not issued and signed by the certificate it must come from.")
X(TDX_CA_REVOKED, "tdx.ca_revoked", "tdx", DENY,
  "An Intel intermediate CA (PCK Platform/Processor CA or TCB signing) is listed in the root CA CRL.")
X(TDX_PCK_REVOKED, "tdx.pck_revoked", "tdx", DENY,
  "The PCK certificate is listed in the PCK CRL.")
X(TDX_PCK_EXTENSION_INVALID, "tdx.pck_extension_invalid", "tdx", DENY,
  "The PCK certificate lacks the SGX extension or one of its members (FMSPC, PCE-ID, TCB components, PCESVN, CPUSVN), "
  "or one is malformed.")
X(TDX_PCK_KEY_INVALID, "tdx.pck_key_invalid", "tdx", DENY,
  "The PCK certificate's key is not an ECDSA P-256 key.")
X(TDX_QE_REPORT_SIGNATURE_INVALID, "tdx.qe_report_signature_invalid", "tdx", DENY,
  "The QE report's signature does not verify under the PCK certificate's key.")
X(TDX_QE_REPORT_DATA_MISMATCH, "tdx.qe_report_data_mismatch", "tdx", DENY,
  "The QE report's REPORT_DATA is not SHA-256(attestation key || QE authentication data): the attestation key is not "
  "bound to the QE.")
X(TDX_QE_IDENTITY_INVALID, "tdx.qe_identity_invalid", "tdx", DENY,
  "The QE identity is not a version 2 TD_QE identity.")
X(TDX_QE_IDENTITY_SIGNATURE_INVALID, "tdx.qe_identity_signature_invalid", "tdx", DENY,
  "The QE identity's signature over its raw JSON does not verify under the TCB signing certificate.")
X(TDX_QE_MISCSELECT_MISMATCH, "tdx.qe_miscselect_mismatch", "tdx", DENY,
  "The QE report's MISCSELECT, masked, differs from the QE identity.")
X(TDX_QE_ATTRIBUTES_MISMATCH, "tdx.qe_attributes_mismatch", "tdx", DENY,
  "The QE report's ATTRIBUTES, masked, differ from the QE identity.")
X(TDX_QE_MRSIGNER_MISMATCH, "tdx.qe_mrsigner_mismatch", "tdx", DENY,
  "The QE report's MRSIGNER differs from the QE identity.")
X(TDX_QE_ISVPRODID_MISMATCH, "tdx.qe_isvprodid_mismatch", "tdx", DENY,
  "The QE report's ISVPRODID differs from the QE identity.")
X(TDX_QE_TCB_LEVEL_NOT_FOUND, "tdx.qe_tcb_level_not_found", "tdx", DENY,
  "No TCB level of the QE identity matches the QE report's ISVSVN.")
X(TDX_ATTESTATION_KEY_INVALID, "tdx.attestation_key_invalid", "tdx", DENY,
  "The quote's attestation key is not a point on P-256.")
X(TDX_QUOTE_SIGNATURE_INVALID, "tdx.quote_signature_invalid", "tdx", DENY,
  "The quote's signature over its header and TD report does not verify under the attestation key.")
X(TDX_TCB_INFO_INVALID, "tdx.tcb_info_invalid", "tdx", DENY,
  "The TCB info is not TDX TCB info version 3 with tcbType 0.")
X(TDX_TCB_INFO_SIGNATURE_INVALID, "tdx.tcb_info_signature_invalid", "tdx", DENY,
  "The TCB info's signature over its raw JSON does not verify under the TCB signing certificate.")
X(TDX_FMSPC_MISMATCH, "tdx.fmspc_mismatch", "tdx", DENY,
  "The TCB info is for another FMSPC than the PCK certificate's.")
X(TDX_PCEID_MISMATCH, "tdx.pceid_mismatch", "tdx", DENY,
  "The TCB info is for another PCE-ID than the PCK certificate's.")
X(TDX_TCB_LEVEL_NOT_FOUND, "tdx.tcb_level_not_found", "tdx", DENY,
  "No platform TCB level of the TCB info matches the PCK's SGX components and PCESVN and the TD's TEE_TCB_SVN (TCB not "
  "supported).")
X(TDX_MODULE_IDENTITY_NOT_FOUND, "tdx.module_identity_not_found", "tdx", DENY,
  "The TCB info has no TDX module identity TDX_<version> for the TD's TDX module major version.")
X(TDX_MODULE_MISMATCH, "tdx.module_mismatch", "tdx", DENY,
  "The TD's MRSIGNERSEAM or SEAMATTRIBUTES differ from the TDX module identity.")
X(TDX_MODULE_TCB_LEVEL_NOT_FOUND, "tdx.module_tcb_level_not_found", "tdx", DENY,
  "No TCB level of the TDX module identity matches the TDX module's ISVSVN.")
X(TDX_TCB_REVOKED, "tdx.tcb_revoked", "tdx", DENY,
  "The converged TCB status is Revoked (platform, TDX module or QE); no policy accepts it.")
X(TDX_TCB_STATUS_NOT_ALLOWED, "tdx.tcb_status_not_allowed", "tdx", DENY,
  "The converged TCB status is not among the policy's accepted statuses (details: the status, the platform, module and "
  "QE statuses and the advisories).")
X(TDX_ADVISORY_NOT_ALLOWED, "tdx.advisory_not_allowed", "tdx", DENY,
  "An Intel security advisory applies to the TCB and the policy does not allowlist it.")
X(TDX_COLLATERAL_MALFORMED, "tdx.collateral_malformed", "tdx", INPUT,
  "The TDX collateral (bundle, TCB info, QE identity, CRL or issuer chain) is not of the expected shape.")
X(TDX_DEBUG, "tdx.debug", "tdx", DENY,
  "The TD is a debug TD (TDATTRIBUTES.DEBUG): its memory and state are readable by the host.")
X(TDX_SEPT_VE_DISABLE_REQUIRED, "tdx.sept_ve_disable_required", "tdx", DENY,
  "The policy requires TDATTRIBUTES.SEPT_VE_DISABLE and the TD does not set it.")
X(TDX_TD_ATTRIBUTES_RESERVED, "tdx.td_attributes_reserved", "tdx", DENY,
  "The TD sets a TDATTRIBUTES bit that no TDX module ABI defines.")
X(TDX_TD_ATTRIBUTE_NOT_ALLOWED, "tdx.td_attribute_not_allowed", "tdx", DENY,
  "The TD sets a defined TDATTRIBUTES bit (e.g. MIGRATABLE, PERFMON) that the policy does not allow.")
X(TDX_MRTD_NOT_ALLOWED, "tdx.mrtd_not_allowed", "tdx", DENY,
  "The TD's MRTD is not in the policy's allowed_mrtd.")
X(TDX_RTMR0_NOT_ALLOWED, "tdx.rtmr0_not_allowed", "tdx", DENY,
  "The TD's RTMR0 is not in the policy's allowed_rtmr0.")
X(TDX_RTMR1_NOT_ALLOWED, "tdx.rtmr1_not_allowed", "tdx", DENY,
  "The TD's RTMR1 is not in the policy's allowed_rtmr1.")
X(TDX_RTMR2_NOT_ALLOWED, "tdx.rtmr2_not_allowed", "tdx", DENY,
  "The TD's RTMR2 is not in the policy's allowed_rtmr2.")
X(TDX_RTMR3_NOT_ALLOWED, "tdx.rtmr3_not_allowed", "tdx", DENY,
  "The TD's RTMR3 is not in the policy's allowed_rtmr3.")
X(TDX_MRCONFIGID_NOT_ALLOWED, "tdx.mrconfigid_not_allowed", "tdx", DENY,
  "The TD's MRCONFIGID is not in the policy's allowed_mrconfigid.")
X(TDX_MROWNER_NOT_ALLOWED, "tdx.mrowner_not_allowed", "tdx", DENY,
  "The TD's MROWNER is not in the policy's allowed_mrowner.")
X(TDX_MROWNERCONFIG_NOT_ALLOWED, "tdx.mrownerconfig_not_allowed", "tdx", DENY,
  "The TD's MROWNERCONFIG is not in the policy's allowed_mrownerconfig.")
X(TDX_MRSERVICETD_NOT_ALLOWED, "tdx.mrservicetd_not_allowed", "tdx", DENY,
  "The TD's MRSERVICETD is not in the policy's allowed_mrservicetd (a TD report 1.0 has none: zero).")
X(TDX_XFAM_NOT_ALLOWED, "tdx.xfam_not_allowed", "tdx", DENY,
  "The TD's XFAM is not in the policy's allowed_xfam.")
X(TDX_TEE_TCB_SVN_TOO_LOW, "tdx.tee_tcb_svn_too_low", "tdx", DENY,
  "A component of the TD's TEE_TCB_SVN is below the policy's minimum_tee_tcb_svn.")
X(TDX_REPORT_DATA_MISMATCH, "tdx.report_data_mismatch", "tdx", DENY,
  "The TD's REPORT_DATA differs from the expected value (the session binding).")
X(COLLATERAL_NOT_YET_VALID, "collateral.not_yet_valid", "collateral", DENY,
  "Collateral (TCB info, QE identity or CRL) is not yet valid at the verification time (the message names the item).")
X(TDX_EVENT_LOG_MALFORMED, "tdx.event_log_malformed", "tdx", INPUT,
  "The TDX event log (CCEL, TCG2 crypto-agile) is malformed: a length field, the Spec ID header, a digest algorithm, "
  "an MR index, or the fill after the last event.")
X(TDX_CCEL_TABLE_INVALID, "tdx.ccel_table_invalid", "tdx", INPUT,
  "The ACPI CCEL table is malformed or not for TDX (signature, length, checksum, CC type), or the event log is longer "
  "than its log area.")
X(TDX_RTMR0_LOG_MISMATCH, "tdx.rtmr0_log_mismatch", "tdx", DENY,
  "Replaying the event log does not give the quote's RTMR0: the log is not the one the TD measured.")
X(TDX_RTMR1_LOG_MISMATCH, "tdx.rtmr1_log_mismatch", "tdx", DENY,
  "Replaying the event log does not give the quote's RTMR1: the log is not the one the TD measured.")
X(TDX_RTMR2_LOG_MISMATCH, "tdx.rtmr2_log_mismatch", "tdx", DENY,
  "Replaying the event log does not give the quote's RTMR2: the log is not the one the TD measured.")
X(TDX_RTMR3_LOG_MISMATCH, "tdx.rtmr3_log_mismatch", "tdx", DENY,
  "Replaying the RTMR3 events (boot log and runtime log) does not give the quote's RTMR3.")
X(TDX_EVENT_LOG_MISSING, "tdx.event_log_missing", "tdx", DENY,
  "The policy requires event-log events and no event log was supplied.")
X(TDX_EVENT_MISSING, "tdx.event_missing", "tdx", DENY,
  "An event the policy requires (by digest) is not in the part of the event log that the quote's RTMRs confirm.")
