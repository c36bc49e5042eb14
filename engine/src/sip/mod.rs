//! SIP message parsing (stub until the parser lands).
