// The schema is part of this library's API (every container hands out its types), so importing
// QKVFormat imports QKVSchema too.
@_exported import QKVSchema
