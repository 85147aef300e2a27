//! Host resources (`GET /1.0/resources`), as `lxc info --resources` shows them.

use super::{go_float, is_default, nullable, ConfigMap};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// System resources available for LXD.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// CPU information.
    #[serde(deserialize_with = "nullable")]
    pub cpu: ResourcesCPU,
    /// Memory information.
    #[serde(deserialize_with = "nullable")]
    pub memory: ResourcesMemory,
    /// GPU devices.
    #[serde(deserialize_with = "nullable")]
    pub gpu: ResourcesGPU,
    /// Network devices.
    #[serde(deserialize_with = "nullable")]
    pub network: ResourcesNetwork,
    /// Storage devices.
    #[serde(deserialize_with = "nullable")]
    pub storage: ResourcesStorage,
    /// USB devices.
    #[serde(deserialize_with = "nullable")]
    pub usb: ResourcesUSB,
    /// PCI devices.
    #[serde(deserialize_with = "nullable")]
    pub pci: ResourcesPCI,
    /// System information.
    #[serde(deserialize_with = "nullable")]
    pub system: ResourcesSystem,
}

/// CPU resources available on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesCPU {
    /// Architecture name.
    pub architecture: String,
    /// List of CPU sockets.
    #[serde(deserialize_with = "nullable")]
    pub sockets: Vec<ResourcesCPUSocket>,
    /// Total number of CPU threads (from all sockets and cores).
    pub total: u64,
}

/// A CPU socket on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesCPUSocket {
    /// Product name.
    #[serde(skip_serializing_if = "is_default")]
    pub name: String,
    /// Vendor name.
    #[serde(skip_serializing_if = "is_default")]
    pub vendor: String,
    /// Socket number.
    pub socket: u64,
    /// List of CPU caches.
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub cache: Vec<ResourcesCPUCache>,
    /// List of CPU cores.
    #[serde(deserialize_with = "nullable")]
    pub cores: Vec<ResourcesCPUCore>,
    /// Current CPU frequency (Mhz).
    #[serde(skip_serializing_if = "is_default")]
    pub frequency: u64,
    /// Minimum CPU frequency (Mhz).
    #[serde(skip_serializing_if = "is_default")]
    pub frequency_minimum: u64,
    /// Maximum CPU frequency (Mhz).
    #[serde(skip_serializing_if = "is_default")]
    pub frequency_turbo: u64,
}

/// A CPU cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesCPUCache {
    /// Cache level (usually a number from 1 to 3).
    pub level: u64,
    /// Type of cache (Data, Instruction, Unified, ...).
    pub r#type: String,
    /// Size of the cache (in bytes).
    pub size: u64,
}

/// A CPU core on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesCPUCore {
    /// Core identifier within the socket.
    pub core: u64,
    /// What die the CPU is a part of (for chiplet designs).
    pub die: u64,
    /// List of threads.
    #[serde(deserialize_with = "nullable")]
    pub threads: Vec<ResourcesCPUThread>,
    /// Current frequency.
    #[serde(skip_serializing_if = "is_default")]
    pub frequency: u64,
}

/// A CPU thread on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesCPUThread {
    /// Thread ID (used for CPU pinning).
    pub id: i64,
    /// NUMA node the thread is a part of.
    pub numa_node: u64,
    /// Thread identifier within the core.
    pub thread: u64,
    /// Whether the thread is online (enabled).
    pub online: bool,
    /// Whether the thread has been isolated (outside of normal scheduling).
    pub isolated: bool,
}

/// GPU resources available on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesGPU {
    /// List of GPUs.
    #[serde(deserialize_with = "nullable")]
    pub cards: Vec<ResourcesGPUCard>,
    /// Total number of GPUs.
    pub total: u64,
}

/// A GPU card on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesGPUCard {
    /// Kernel driver currently associated with the GPU.
    #[serde(skip_serializing_if = "is_default")]
    pub driver: String,
    /// Version of the kernel driver.
    #[serde(skip_serializing_if = "is_default")]
    pub driver_version: String,
    /// DRM information (if the card is in use by the host).
    #[serde(skip_serializing_if = "is_default")]
    pub drm: Option<ResourcesGPUCardDRM>,
    /// SRIOV information (when supported by the card).
    #[serde(skip_serializing_if = "is_default")]
    pub sriov: Option<ResourcesGPUCardSRIOV>,
    /// NVIDIA specific information.
    #[serde(skip_serializing_if = "is_default")]
    pub nvidia: Option<ResourcesGPUCardNvidia>,
    /// Map of available mediated device profiles.
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub mdev: BTreeMap<String, ResourcesGPUCardMdev>,
    /// NUMA node the GPU is a part of.
    pub numa_node: u64,
    /// PCI address.
    #[serde(skip_serializing_if = "is_default")]
    pub pci_address: String,
    /// Name of the vendor.
    #[serde(skip_serializing_if = "is_default")]
    pub vendor: String,
    /// PCI ID of the vendor.
    #[serde(skip_serializing_if = "is_default")]
    pub vendor_id: String,
    /// Name of the product.
    #[serde(skip_serializing_if = "is_default")]
    pub product: String,
    /// PCI ID of the product.
    #[serde(skip_serializing_if = "is_default")]
    pub product_id: String,
    /// USB address (for USB cards).
    #[serde(skip_serializing_if = "is_default")]
    pub usb_address: String,
}

/// Linux DRM configuration of the GPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesGPUCardDRM {
    /// DRM card ID.
    pub id: u64,
    /// Card device name.
    pub card_name: String,
    /// Card device number.
    pub card_device: String,
    /// Control device name.
    #[serde(skip_serializing_if = "is_default")]
    pub control_name: String,
    /// Control device number.
    #[serde(skip_serializing_if = "is_default")]
    pub control_device: String,
    /// Render device name.
    #[serde(skip_serializing_if = "is_default")]
    pub render_name: String,
    /// Render device number.
    #[serde(skip_serializing_if = "is_default")]
    pub render_device: String,
}

/// SRIOV configuration of the GPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesGPUCardSRIOV {
    /// Number of VFs currently configured.
    pub current_vfs: u64,
    /// Maximum number of supported VFs.
    pub maximum_vfs: u64,
    /// List of VFs (as additional GPU devices).
    #[serde(deserialize_with = "nullable")]
    pub vfs: Vec<ResourcesGPUCard>,
}

/// Additional information for NVIDIA GPUs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesGPUCardNvidia {
    /// Version of the CUDA API.
    #[serde(skip_serializing_if = "is_default")]
    pub cuda_version: String,
    /// Version of the NVRM (usually driver version).
    #[serde(skip_serializing_if = "is_default")]
    pub nvrm_version: String,
    /// Brand name.
    pub brand: String,
    /// Model name.
    pub model: String,
    /// GPU UUID.
    #[serde(skip_serializing_if = "is_default")]
    pub uuid: String,
    /// Architecture (generation).
    #[serde(skip_serializing_if = "is_default")]
    pub architecture: String,
    /// Card device name.
    pub card_name: String,
    /// Card device number.
    pub card_device: String,
}

/// Mediated devices configuration of the GPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesGPUCardMdev {
    /// The mechanism used by this device.
    pub api: String,
    /// Number of available devices of this profile.
    pub available: u64,
    /// Profile name.
    #[serde(skip_serializing_if = "is_default")]
    pub name: String,
    /// Profile description.
    #[serde(skip_serializing_if = "is_default")]
    pub description: String,
    /// List of active devices (UUIDs).
    #[serde(deserialize_with = "nullable")]
    pub devices: Vec<String>,
}

/// Network cards available on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesNetwork {
    /// List of network cards.
    #[serde(deserialize_with = "nullable")]
    pub cards: Vec<ResourcesNetworkCard>,
    /// Total number of network cards.
    pub total: u64,
}

/// A network card on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesNetworkCard {
    /// Kernel driver currently associated with the card.
    #[serde(skip_serializing_if = "is_default")]
    pub driver: String,
    /// Version of the kernel driver.
    #[serde(skip_serializing_if = "is_default")]
    pub driver_version: String,
    /// List of ports on the card.
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub ports: Vec<ResourcesNetworkCardPort>,
    /// SRIOV information (when supported by the card).
    #[serde(skip_serializing_if = "is_default")]
    pub sriov: Option<ResourcesNetworkCardSRIOV>,
    /// NUMA node the card is a part of.
    pub numa_node: u64,
    /// PCI address (for PCI cards).
    #[serde(skip_serializing_if = "is_default")]
    pub pci_address: String,
    /// Name of the vendor.
    #[serde(skip_serializing_if = "is_default")]
    pub vendor: String,
    /// PCI ID of the vendor.
    #[serde(skip_serializing_if = "is_default")]
    pub vendor_id: String,
    /// Name of the product.
    #[serde(skip_serializing_if = "is_default")]
    pub product: String,
    /// PCI ID of the product.
    #[serde(skip_serializing_if = "is_default")]
    pub product_id: String,
    /// Current firmware version.
    #[serde(skip_serializing_if = "is_default")]
    pub firmware_version: String,
    /// USB address (for USB cards).
    #[serde(skip_serializing_if = "is_default")]
    pub usb_address: String,
}

/// A network port on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesNetworkCardPort {
    /// Port identifier (interface name).
    pub id: String,
    /// MAC address.
    #[serde(skip_serializing_if = "is_default")]
    pub address: String,
    /// Port number.
    pub port: u64,
    /// Transport protocol.
    pub protocol: String,
    /// List of supported modes.
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub supported_modes: Vec<String>,
    /// List of supported port types.
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub supported_ports: Vec<String>,
    /// Current port type.
    #[serde(skip_serializing_if = "is_default")]
    pub port_type: String,
    /// Type of transceiver used.
    #[serde(skip_serializing_if = "is_default")]
    pub transceiver_type: String,
    /// Whether auto negotiation is used.
    pub auto_negotiation: bool,
    /// Whether a link was detected.
    pub link_detected: bool,
    /// Current speed (Mbit/s).
    #[serde(skip_serializing_if = "is_default")]
    pub link_speed: u64,
    /// Duplex type.
    #[serde(skip_serializing_if = "is_default")]
    pub link_duplex: String,
    /// Additional information for infiniband devices.
    #[serde(skip_serializing_if = "is_default")]
    pub infiniband: Option<ResourcesNetworkCardPortInfiniband>,
}

/// Linux Infiniband configuration for the port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesNetworkCardPortInfiniband {
    /// ISSM device name.
    #[serde(skip_serializing_if = "is_default")]
    pub issm_name: String,
    /// ISSM device number.
    #[serde(skip_serializing_if = "is_default")]
    pub issm_device: String,
    /// MAD device name.
    #[serde(skip_serializing_if = "is_default")]
    pub mad_name: String,
    /// MAD device number.
    #[serde(skip_serializing_if = "is_default")]
    pub mad_device: String,
    /// Verb device name.
    #[serde(skip_serializing_if = "is_default")]
    pub verb_name: String,
    /// Verb device number.
    #[serde(skip_serializing_if = "is_default")]
    pub verb_device: String,
}

/// SRIOV configuration of the network card.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesNetworkCardSRIOV {
    /// Number of VFs currently configured.
    pub current_vfs: u64,
    /// Maximum number of supported VFs.
    pub maximum_vfs: u64,
    /// List of VFs (as additional Network devices).
    #[serde(deserialize_with = "nullable")]
    pub vfs: Vec<ResourcesNetworkCard>,
}

/// Local storage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesStorage {
    /// List of disks.
    #[serde(deserialize_with = "nullable")]
    pub disks: Vec<ResourcesStorageDisk>,
    /// Total number of partitions.
    pub total: u64,
}

/// A disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesStorageDisk {
    /// ID of the disk (device name).
    pub id: String,
    /// Device number.
    pub device: String,
    /// Disk model name.
    #[serde(skip_serializing_if = "is_default")]
    pub model: String,
    /// Storage type.
    #[serde(skip_serializing_if = "is_default")]
    pub r#type: String,
    /// Whether the disk is read-only.
    pub read_only: bool,
    /// Total size of the disk (bytes).
    pub size: u64,
    /// Whether the disk is removable (hot-plug).
    pub removable: bool,
    /// WWN identifier.
    #[serde(skip_serializing_if = "is_default")]
    pub wwn: String,
    /// NUMA node the disk is a part of.
    pub numa_node: u64,
    /// Device by-path identifier.
    #[serde(skip_serializing_if = "is_default")]
    pub device_path: String,
    /// Block size.
    pub block_size: u64,
    /// Current firmware version.
    #[serde(skip_serializing_if = "is_default")]
    pub firmware_version: String,
    /// Rotation speed (RPM).
    pub rpm: u64,
    /// Serial number.
    #[serde(skip_serializing_if = "is_default")]
    pub serial: String,
    /// Device by-id identifier.
    pub device_id: String,
    /// List of partitions.
    #[serde(deserialize_with = "nullable")]
    pub partitions: Vec<ResourcesStorageDiskPartition>,
    /// PCI address.
    #[serde(skip_serializing_if = "is_default")]
    pub pci_address: String,
    /// USB address.
    #[serde(skip_serializing_if = "is_default")]
    pub usb_address: String,
}

/// A partition on a disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesStorageDiskPartition {
    /// ID of the partition (device name).
    pub id: String,
    /// Device number.
    pub device: String,
    /// Whether the partition is read-only.
    pub read_only: bool,
    /// Size of the partition (bytes).
    pub size: u64,
    /// Partition number.
    pub partition: u64,
}

/// Memory resources available on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesMemory {
    /// List of NUMA memory nodes.
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub nodes: Vec<ResourcesMemoryNode>,
    /// Total of memory huge pages (bytes).
    pub hugepages_total: u64,
    /// Used memory huge pages (bytes).
    pub hugepages_used: u64,
    /// Size of memory huge pages (bytes).
    pub hugepages_size: u64,
    /// Used system memory (bytes).
    pub used: u64,
    /// Total system memory (bytes).
    pub total: u64,
}

/// Node-specific memory resources available on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesMemoryNode {
    /// NUMA node identifier.
    pub numa_node: u64,
    /// Used memory huge pages (bytes).
    pub hugepages_used: u64,
    /// Total of memory huge pages (bytes).
    pub hugepages_total: u64,
    /// Used system memory (bytes).
    pub used: u64,
    /// Total system memory (bytes).
    pub total: u64,
}

/// USB devices available on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesUSB {
    /// List of USB devices.
    #[serde(deserialize_with = "nullable")]
    pub devices: Vec<ResourcesUSBDevice>,
    /// Total number of USB devices.
    pub total: u64,
}

/// A USB device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesUSBDevice {
    /// USB address (bus).
    pub bus_address: u64,
    /// USB address (device).
    pub device_address: u64,
    /// List of USB interfaces.
    #[serde(deserialize_with = "nullable")]
    pub interfaces: Vec<ResourcesUSBDeviceInterface>,
    /// Name of the vendor.
    pub vendor: String,
    /// USB ID of the vendor.
    pub vendor_id: String,
    /// Name of the product.
    pub product: String,
    /// USB ID of the product.
    pub product_id: String,
    /// Transfer speed (Mbit/s).
    #[serde(serialize_with = "go_float")]
    pub speed: f64,
}

/// A USB device interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesUSBDeviceInterface {
    /// Class of USB interface.
    pub class: String,
    /// ID of the USB interface class.
    pub class_id: u64,
    /// Kernel driver currently associated with the device.
    pub driver: String,
    /// Version of the kernel driver.
    pub driver_version: String,
    /// Interface number.
    pub number: u64,
    /// Sub class of the interface.
    pub subclass: String,
    /// ID of the USB interface sub class.
    pub subclass_id: u64,
}

/// PCI devices available on the system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesPCI {
    /// List of PCI devices.
    #[serde(deserialize_with = "nullable")]
    pub devices: Vec<ResourcesPCIDevice>,
    /// Total number of PCI devices.
    pub total: u64,
}

/// A PCI device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesPCIDevice {
    /// Kernel driver currently associated with the device.
    pub driver: String,
    /// Version of the kernel driver.
    pub driver_version: String,
    /// NUMA node the card is a part of.
    pub numa_node: u64,
    /// PCI address.
    pub pci_address: String,
    /// Name of the vendor.
    pub vendor: String,
    /// PCI ID of the vendor.
    pub vendor_id: String,
    /// Name of the product.
    pub product: String,
    /// PCI ID of the product.
    pub product_id: String,
    /// IOMMU group number.
    pub iommu_group: u64,
    /// Vital product data (since LXD 5.0.2).
    #[serde(deserialize_with = "nullable")]
    pub vpd: ResourcesPCIVPD,
}

/// Vital product data of a PCI device (since LXD 5.0.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesPCIVPD {
    /// Hardware provided product name.
    #[serde(skip_serializing_if = "is_default")]
    pub product_name: String,
    /// Dict of vendor provided key/value pairs.
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub entries: ConfigMap,
}

/// System information (DMI).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesSystem {
    /// System UUID.
    pub uuid: String,
    /// System vendor.
    pub vendor: String,
    /// System model.
    pub product: String,
    /// System family.
    pub family: String,
    /// System version.
    pub version: String,
    /// System manufacturer SKU.
    pub sku: String,
    /// System serial number.
    pub serial: String,
    /// System type (unknown, physical, virtual-machine, container, ...).
    pub r#type: String,
    /// Firmware details.
    pub firmware: Option<ResourcesSystemFirmware>,
    /// Chassis details.
    pub chassis: Option<ResourcesSystemChassis>,
    /// Motherboard details.
    pub motherboard: Option<ResourcesSystemMotherboard>,
}

/// System firmware.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesSystemFirmware {
    /// Firmware vendor.
    pub vendor: String,
    /// Firmware build date.
    pub date: String,
    /// Firmware version.
    pub version: String,
}

/// System chassis.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesSystemChassis {
    /// Chassis vendor.
    pub vendor: String,
    /// Chassis type.
    pub r#type: String,
    /// Chassis serial number.
    pub serial: String,
    /// Chassis version/revision.
    pub version: String,
}

/// System motherboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesSystemMotherboard {
    /// Motherboard vendor.
    pub vendor: String,
    /// Motherboard model.
    pub product: String,
    /// Motherboard serial number.
    pub serial: String,
    /// Motherboard version/revision.
    pub version: String,
}
