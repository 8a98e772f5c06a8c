import ApusLinux
import OCI

/// The message of one of the runtime's own errors (each names step, object and field);
/// nil for anything else, such as the parser's. Casts to the concrete types: cheap, where a
/// cast to a protocol scans the binary's conformance records.
public func runtimeErrorMessage(_ error: any Error) -> String? {
    if let error = error as? RuntimeError { return error.description }
    if let error = error as? SetupError { return error.description }
    if let error = error as? ConfigError { return error.description }
    if let error = error as? CgroupError { return error.description }
    return nil
}
