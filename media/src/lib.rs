//! gossipper media
