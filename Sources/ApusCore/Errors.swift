import ApusLinux
import OCI

/// The message of one of the runtime's own errors (`ApusError`, naming step, object and
/// field; OCI's `ConfigError` for a config that fails validation);
/// nil for anything else, such as the parser's. Casts to the concrete types: cheap, where a
/// cast to a protocol scans the binary's conformance records.
public func runtimeErrorMessage(_ error: any Error) -> String? {
    if let error = error as? ApusError { return error.description }
    if let error = error as? ConfigError { return error.description }
    return nil
}

/// The runtime's one error type, as the CLI (which does not import ApusLinux) names it.
public typealias ApusError = ApusLinux.ApusError
