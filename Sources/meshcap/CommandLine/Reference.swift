import MeshCapture

/// What meshcap reads and writes, the environment it reads, and how it exits: declared once, for
/// `meshcap --help` and the man page's FILES, ENVIRONMENT and EXIT STATUS alike.
enum Reference {
    struct Entry {
        let name: String
        let meaning: String
    }

    static let files: [Entry] = [
        Entry(name: "/var/lib/istio/envoy/cluster.env",
              meaning: "The VM's settings as istioctl writes them (ISTIO_SERVICE_CIDR, ISTIO_INBOUND_PORTS ...): the units read it after sidecar.env, through meshcap-with-config, and refuse to run without it."),
        Entry(name: "/var/lib/istio/envoy/sidecar.env", meaning: "The Istio package's defaults (every line commented out as shipped), read first."),
        Entry(name: "/etc/meshcap/*.env", meaning: "meshcap's own settings for the units, read last (later files win), in byte order of their names."),
        Entry(name: "/run/meshcap/netns-ID/",
              meaning: "The journal of each network namespace (ID: its cookie): intent while an apply or clean changes rules (left behind, it was interrupted: verify says so, apply or clean completes it), target.env, applied.env (the config the last apply put in force: verify, diff, explain, clean and a plain apply use it when given none), failed (why the last apply failed), made (tables iptables-nft made for meshcap's rules)."),
        Entry(name: "/etc/passwd, /etc/group", meaning: "ENVOY_USER's UID (PROXY_UID when unset) and group names; --passwd-file and --group-file name others."),
        Entry(name: "/etc/resolv.conf", meaning: "The DNS servers captured when DNS capture is on and DNS_SERVERS_V4/V6 are unset; --resolv-conf names another."),
        Entry(name: "/etc/hosts", meaning: "doctor: the control plane's names; --hosts names another."),
        Entry(name: "/etc/ssh/sshd_config", meaning: "apply and doctor: the SSH ports, which captured inbound would lock an operator out when Envoy is down; doctor's --sshd-config names another."),
        Entry(name: "meshcap.service, meshcap-verify.service, meshcap-verify.timer",
              meaning: "systemd units (make install): apply at boot, a restart re-applies in place, a stop removes the capture; verify every minute."),
        Entry(name: "/var/lib/prometheus/node-exporter/meshcap.prom", meaning: "meshcap-verify.service's metrics, for node_exporter's textfile collector (MESHCAP_TEXTFILE)."),
        Entry(name: "/run/xtables.lock", meaning: "iptables' own lock, waited for --wait seconds."),
    ]

    static let environment: [Entry] = [
        Entry(name: "PROXY_PORT, ISTIO_SERVICE_CIDR, ...",
              meaning: "Any config key, as istio-iptables reads its settings from the environment: it wins over --config files and loses to flags (`meshcap keys` lists them)."),
        Entry(name: "NETWORK_NAMESPACE", meaning: "The network namespace apply, clean, diff, verify and doctor work in; --netns wins over it."),
        Entry(name: "ISTIO_SIDECAR_CONFIG, ISTIO_CLUSTER_CONFIG, MESHCAP_CONFIG_DIR",
              meaning: "meshcap-with-config (the units): where sidecar.env, cluster.env and meshcap's own *.env files are."),
        Entry(name: "MESHCAP_TEXTFILE", meaning: "meshcap-verify.service: where the metrics are written."),
        Entry(name: "MESHCAP_FAKE_HOST",
              meaning: "A directory: apply, clean, diff, verify and explain --live work on a stand-in host kept there (iptables rules as iptables-save prints them, routing, journal) instead of this kernel's, without root. For trying meshcap out and for its tests; it proves what meshcap decides, not what the kernel does with the rules."),
        Entry(name: "PATH", meaning: "Where the iptables tools and ip are looked for, then in /usr/sbin, /sbin, /usr/bin and /bin."),
    ]

    static var exitStatuses: [Entry] {
        ExitStatus.allCases.map { Entry(name: String($0.rawValue), meaning: $0.meaning) }
    }
}
