import Foundation
import Testing

@testable import CustosKeystore

@Suite("Process hardening and data-directory permissions")
struct ProcessHardeningTests {
    @Test func hardeningForbidsCoreDumpsAndSetsAPrivateUmask() throws {
        let inherited = umask(0o022)
        // Other tests in this process create files: they get the umask they had.
        defer { umask(inherited) }
        #expect(ProcessHardening.apply().isEmpty)
        #expect(!ProcessHardening.isDumpable)
        #expect(ProcessHardening.coreLimit == (0, 0))
        #expect(umask(0o022) == 0o077)
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        #expect(status.contains("CoreDumping:\t0"))
    }

    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("custos-perm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    @Test func prepareCreatesOrCorrectsTheDirectoryTo0700() throws {
        let parent = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let fresh = parent + "/a/b"
        try DataDirectory.prepare(fresh)
        #expect(try mode(fresh) == 0o700)
        chmod(fresh, 0o777)
        try DataDirectory.prepare(fresh)
        #expect(try mode(fresh) == 0o700)
    }

    @Test func anyEntryOthersCanReachIsNamed() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o700)
        for name in ["root.seal", "custos.sqlite", "anything-else"] {
            FileManager.default.createFile(atPath: directory + "/" + name, contents: Data([1]), attributes: [.posixPermissions: 0o600])
        }
        #expect(DataDirectory.problems(directory).isEmpty)
        #expect(try DataDirectory.check(directory, allowInsecure: false).isEmpty)
        chmod(directory + "/anything-else", 0o604)
        chmod(directory, 0o750)
        let found = DataDirectory.problems(directory)
        #expect(found.count == 2)
        #expect(found.contains { $0.contains(directory + " has mode 750") && $0.contains("chmod 700") })
        #expect(found.contains { $0.contains("anything-else has mode 604") && $0.contains("chmod 600") })
        #expect(throws: DataDirectory.InsecurePermissions.self) { try DataDirectory.check(directory, allowInsecure: false) }
        #expect(try DataDirectory.check(directory, allowInsecure: true).count == 2)
        // A missing directory is left to the caller to report as not initialised.
        #expect(DataDirectory.problems(directory + "/missing").isEmpty)
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }
}
