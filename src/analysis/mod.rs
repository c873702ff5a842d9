//! Analysis of an incident. So far: redaction of untrusted text, applied to everything
//! collected before it is stored, prompted or posted.

pub mod redact;
