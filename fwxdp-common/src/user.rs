//! aya's `Pod` for the map keys and values userspace reads and writes.

// SAFETY: each type is #[repr(C)], made only of integers with explicit padding, and is
// bytemuck::Pod, so every bit pattern is valid.
unsafe impl aya::Pod for crate::Config {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::Counter {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::PortKey {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::PortSlot {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::CidrKey {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::FlowKey {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::LinkRecord {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::LimitKey {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::Limit {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::RateKey {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::RateState {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::BlockKey {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::BlockEntry {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::BlockCounts {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::DropEvent {}
// SAFETY: as above.
unsafe impl aya::Pod for crate::LogState {}
