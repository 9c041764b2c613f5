#if canImport(Glibc)
import Glibc
#endif
import MeshCapture

/// The rule files of one config, written into a directory as a set: the files this config makes
/// replace meshcap's files there, and one it no longer makes (`rules.v6` after IPv6 was turned
/// off) is removed, so the directory never holds the rules of two configs.
///
/// All or nothing. Every new file is written and flushed beside its name first, and each file
/// about to be replaced or removed gets a hard link as a backup; only then are the new files
/// renamed into place and stale ones removed. If one of those steps fails, the ones already done
/// are put back from the backups. Files of other names in the directory are never touched.
///
/// Only regular files: a device, FIFO, socket or directory under one of the names (or a symbolic
/// link to one) is refused before anything is made (`TextFile.Destination`). A name the config
/// makes is written through a symbolic link to the regular file the link names; a name it no
/// longer makes is removed, and for a link that is the link, not the file it names.
public enum RuleFiles {
    /// Every name meshcap writes; the set a config makes is a subset.
    public static let names = ["rules.v4", "rules.v6", "rules.nft"]

    public static func write(_ files: [(name: String, contents: String)], into directory: String) throws {
        precondition(files.allSatisfy { names.contains($0.name) }, "RuleFiles writes only its own names")
        if let code = TextFile.makeDirectories(directory) { throw HostError("cannot create \(directory)", errno: code) }
        // What each name's write, removal, backup and restore act on, and whether it exists.
        var places: [String: (path: String, exists: Bool)] = [:]
        for name in names {
            let destination = try TextFile.Destination(directory + "/" + name)
            places[name] = (files.contains { $0.name == name } ? destination.file : destination.path, destination.existing != nil)
        }
        // From the first temporary file to the last rename or removal.
        try SignalDeferral.run { () throws(HostError) in try switchInPlace(files, places: places, directory: directory) }
    }

    static func switchInPlace(_ files: [(name: String, contents: String)], places: [String: (path: String, exists: Bool)],
                              directory: String) throws(HostError) {
        let path = { (name: String) in places[name]?.path ?? directory + "/" + name }
        var temporaries: [(name: String, temporary: String)] = []
        var backups: [String: String] = [:]
        /// Removes what was made on the way; names a backup that could not be removed (it is
        /// a second link to a file's old content, harmless, but the user should know it is there).
        func discard() -> String {
            for (_, temporary) in temporaries { unlink(temporary) }
            let left = backups.values.sorted().filter { unlink($0) != 0 && errno != ENOENT }
            return left.isEmpty ? "" : " (left behind, remove by hand: \(left.joined(separator: ", ")))"
        }

        // 1. Everything that can fail without changing what is in place.
        do throws(HostError) {
            for file in files {
                temporaries.append((file.name, try TextFile.writeBeside(path(file.name), file.contents)))
            }
            for name in names where places[name]?.exists == true {
                let backup = TextFile.beside(path(name), tag: "old")
                unlink(backup)
                guard link(path(name), backup) == 0 else {
                    throw HostError("cannot keep a copy of \(path(name)) to restore if the update fails", errno: errno)
                }
                backups[name] = backup
            }
        } catch {
            throw error.appending(discard())
        }

        // 2. The switch: rename new files into place, remove stale ones; undo on failure.
        var done: [String] = []
        var failure: HostError?
        for (name, temporary) in temporaries {
            guard rename(temporary, path(name)) == 0 else {
                failure = HostError("cannot rename \(temporary) to \(path(name))", errno: errno)
                break
            }
            done.append(name)
        }
        if failure == nil {
            for name in names where backups[name] != nil && !files.contains(where: { $0.name == name }) {
                guard unlink(path(name)) == 0 else {
                    failure = HostError("cannot remove \(path(name)), which this config no longer makes", errno: errno)
                    break
                }
                done.append(name)
            }
        }
        if let failure {
            for name in done {
                if let backup = backups[name] { rename(backup, path(name)) } else { unlink(path(name)) }
            }
            backups = backups.filter { !done.contains($0.key) }
            throw failure.appending("; the files in \(directory) are as they were" + discard())
        }
        let left = discard()
        for changed in Set(names.map { TextFile.directory(of: path($0)) }) { TextFile.syncDirectory(changed) }
        if !left.isEmpty { throw HostError("the rules files in \(directory) are written, but a copy of an old one is\(left)") }
    }
}
