import HostOps
import MeshCapture

struct Cidr: Subcommand {
    static let spec = CommandSpec(
        name: "cidr",
        abstract: "Find the cluster's service CIDR in `kubectl cluster-info dump` output.",
        discussion: """
            Reads kube-apiserver's and kube-controller-manager's --service-cluster-ip-range from the \
            dump: in the static pods' commands (kubeadm, kind), in a wrapper's shell command (kops), \
            in kube-apiserver's start-up log, or in the API server's refusal of a ClusterIP outside \
            the range. Only those programs' own words count: a comment, another container's command \
            or log, or prose that mentions the flag is not read; a value cut short (ending in a comma, \
            or at the very end of the input with nothing after it) is named with its line and skipped. \
            Prints the range (dual stack: both, comma-separated), or writes it into an env file as \
            ISTIO_SERVICE_CIDR.
              kubectl cluster-info dump | meshcap cidr --from-cluster-dump -
              meshcap cidr --from-cluster-dump dump.txt --write-env /var/lib/istio/envoy/cluster.env
            Exit 1 when the dump names no usable range, or names different ones (each is listed).
            """,
        options: [
            OptionSpec("from-cluster-dump", .single(name: "file", completion: .file), help: "The dump, or - for standard input (required)."),
            OptionSpec("write-env", .single(name: "file", completion: .file),
                       help: "Set ISTIO_SERVICE_CIDR in this env file (created if missing), keeping its other lines and each line's end; written in one rename. Only a regular file: a symbolic link is followed to the regular file it names (the link stays), and a device, FIFO, socket or directory (or a link to one) is refused with exit 2."),
        ])

    let dump: String
    let writeEnv: String?

    init(_ arguments: Arguments) throws {
        dump = try arguments.required("from-cluster-dump", of: Self.spec)
        writeEnv = try arguments.value("write-env")
        if writeEnv == "-" { throw ConfigError(origin: nil, message: "--write-env -: allowed: a file path (the env file is edited in place; without --write-env the range is printed)") }
    }

    /// A dump with every namespace's logs runs to hundreds of MiB; it is scanned, never held.
    static let dumpLimit = 4 * 1024 * 1024 * 1024

    func run() throws {
        // Checked before the dump is read: an env file that cannot be written is said at once.
        let destination = try writeEnv.map(TextFile.Destination.init)
        var scan = ClusterDump()
        let ended = try InputFile.streamLines(dump, role: "cluster dump", standardInput: true, limit: Self.dumpLimit) { scan.scan($0) }
        scan.finish(lastLineEnded: ended)
        let source = dump == "-" ? "standard input" : dump
        Report.warning(scan.unreadable.map {
            "\($0.place): --service-cluster-ip-range=\($0.value.isEmpty ? "(empty)" : $0.value) \($0.problem); skipped"
        })
        let statements = scan.statements
        guard let statement = statements.first else {
            // Where the dump does name the range, the advice for dumps that do not would mislead.
            Report.say(scan.unreadable.isEmpty ? Self.notFound(in: source, scan)
                       : ["no usable --service-cluster-ip-range in \(source): every place that names one is skipped (above, with why)"])
            throw ProblemFound()
        }
        guard statements.count == 1 else {
            Report.say(["\(source) names \(statements.count) different service ranges; a range changed without restarting every component? Check which one kube-apiserver runs with now:"]
                       + statements.flatMap { statement in
                           ["  \(Self.list(statement.prefixes)):"] + statement.findings.map { "    \($0.place)" }
                       })
            throw ProblemFound()
        }
        let value = Self.list(statement.prefixes)
        let places = statement.findings.map(\.place)
        Report.say([places.count == 1 ? "service range \(value), from \(places[0])" : places.count == 2 ? "service range \(value), the same in both places that name it:"
                                      : "service range \(value), the same in all \(places.count) places that name it:"]
                   + (places.count == 1 ? [] : places.map { "  \($0)" }))
        if statement.findings.allSatisfy(\.oneFamily) && Set(statement.prefixes.map(\.family)).count == 1 {
            Report.note(["the API server's refusal names the range of the asked address's family only; on a dual-stack cluster ask again with an address of the other family (--clusterip=fd00::1 or 1.1.1.1) and pass both messages"])
        }
        guard let destination else { return print(value) }
        let existing = destination.existing == nil ? nil : try InputFile.read(destination.path, role: "env file")
        let edit = EnvFileEdit(setting: "ISTIO_SERVICE_CIDR", to: value, in: existing)
        try TextFile.replace(destination, with: edit.text)
        let lines = edit.lines.map(String.init).joined(separator: ", ")
        Report.say(["\(destination.path): ISTIO_SERVICE_CIDR='\(value)' \(existing == nil ? "in a new file" : edit.appended ? "added as line \(lines)" : "set on line \(lines)")"])
    }

    static func list(_ prefixes: [Prefix]) -> String { prefixes.map(\.description).joined(separator: ",") }

    /// Where else the range can be found, as `../research/cluster-dump.md` lists the places: the
    /// one next step that fits what the input was.
    static func notFound(in source: String, _ scan: ClusterDump) -> [String] {
        let providers = ["  aws eks describe-cluster --name CLUSTER --query cluster.kubernetesNetworkConfig.serviceIpv4Cidr",
                         "  gcloud container clusters describe CLUSTER --format='value(servicesIpv4Cidr)'",
                         "  az aks show -n CLUSTER -g GROUP --query networkProfile.serviceCidr"]
        let pods = "  kubectl -n kube-system get pods -o yaml | meshcap cidr --from-cluster-dump -"
        let hint = scan.kubernetesServiceAddress.map { ["hint: the kubernetes Service in default has ClusterIP \($0), the first address of the range (not the range: its length is not in the dump)"] } ?? []
        if let refusal = scan.refusalWithoutRange {
            // The probe's own answer, without the range: asking it again says the same.
            return ["no range in \(source): line \(refusal.line) is the API server's refusal of a ClusterIP, and it names no range ("
                    + (refusal.eks ? "EKS's API server says only that the address \"does not match the current range\"" : "Kubernetes before 1.10 did not say the range in it")
                    + "). The range is in the control plane's flags or with the provider:",
                    pods] + (refusal.eks ? [providers[0]] : providers) + hint
        }
        if let log = scan.controlPlaneLog {
            return ["no --service-cluster-ip-range in \(source): it holds the log of \(log), which prints its flags only at -v=1 and above (FLAG: lines). The flag is in that pod's command:",
                    "  kubectl -n kube-system get pods -o yaml | meshcap cidr --from-cluster-dump -",
                    "or in the whole dump: kubectl cluster-info dump | meshcap cidr --from-cluster-dump -"] + hint
        }
        return ["no --service-cluster-ip-range in \(source). A managed control plane (EKS, GKE, AKS) runs no kube-apiserver pod, so its dump holds no flag; ask the provider:"]
            + providers
            + ["or let the API server say it: a ClusterIP outside the range is refused, the message names the range, and nothing is created:",
               "  kubectl create service clusterip meshcap-probe --clusterip=1.1.1.1 --tcp=80 2>&1 | meshcap cidr --from-cluster-dump -"]
            + hint
    }
}
