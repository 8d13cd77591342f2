/* The pinned NVIDIA Device Identity CA: NVIDIA's public, self-signed ECDSA P-384 root of every GPU
 * device certificate chain (Hopper and Blackwell), as NVIDIA's verifiers ship it
 * (nvtrust local_gpu_verifier certs/verifier_device_root.pem). Pinned twice: the certificate and the
 * SHA-256 of its DER, checked when a verifier loads it. The root at the end of a chain a GPU supplies is
 * never used in its place. */
#include "gpu_internal.h"

const char gpu_pinned_root_sha256[] = "102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48";

const char gpu_pinned_root_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICCzCCAZCgAwIBAgIQLTZwscoQBBHB/sDoKgZbVDAKBggqhkjOPQQDAzA1MSIw\n"
    "IAYDVQQDDBlOVklESUEgRGV2aWNlIElkZW50aXR5IENBMQ8wDQYDVQQKDAZOVklE\n"
    "SUEwIBcNMjExMTA1MDAwMDAwWhgPOTk5OTEyMzEyMzU5NTlaMDUxIjAgBgNVBAMM\n"
    "GU5WSURJQSBEZXZpY2UgSWRlbnRpdHkgQ0ExDzANBgNVBAoMBk5WSURJQTB2MBAG\n"
    "ByqGSM49AgEGBSuBBAAiA2IABA5MFKM7+KViZljbQSlgfky/RRnEQScW9NDZF8SX\n"
    "gAW96r6u/Ve8ZggtcYpPi2BS4VFu6KfEIrhN6FcHG7WP05W+oM+hxj7nyA1r1jkB\n"
    "2Ry70YfThX3Ba1zOryOP+MJ9vaNjMGEwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8B\n"
    "Af8EBAMCAQYwHQYDVR0OBBYEFFeF/4PyY8xlfWi3Olv0jUrL+0lfMB8GA1UdIwQY\n"
    "MBaAFFeF/4PyY8xlfWi3Olv0jUrL+0lfMAoGCCqGSM49BAMDA2kAMGYCMQCPeFM3\n"
    "TASsKQVaT+8S0sO9u97PVGCpE9d/I42IT7k3UUOLSR/qvJynVOD1vQKVXf0CMQC+\n"
    "EY55WYoDBvs2wPAH1Gw4LbcwUN8QCff8bFmV4ZxjCRr4WXTLFHBKjbfneGSBWwA=\n"
    "-----END CERTIFICATE-----\n";
