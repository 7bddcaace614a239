//! `--device`: which burn backend runs the models.

use burn::tensor::Device;

/// The compute device named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// burn `flex`: pure-Rust CPU backend (the successor of burn-candle), always available.
    Cpu,
    /// burn `wgpu`: the GPU through Vulkan, Metal or DX12.
    #[cfg(feature = "wgpu")]
    Wgpu,
    /// burn `cuda`: NVIDIA GPUs through CUDA (build with `--features cuda`).
    #[cfg(feature = "cuda")]
    Cuda,
}

impl DeviceChoice {
    /// `count` devices of this kind for data-parallel training: GPUs 0..count for wgpu and
    /// CUDA; for the CPU, `count` handles on the same cores (no speed-up, but the same code
    /// path, which the tests use).
    pub fn devices(self, count: usize) -> Vec<Device> {
        (0..count.max(1))
            .map(|index| match self {
                DeviceChoice::Cpu => Device::flex(),
                #[cfg(feature = "wgpu")]
                DeviceChoice::Wgpu if count > 1 => Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(index)),
                #[cfg(feature = "wgpu")]
                DeviceChoice::Wgpu => self.device(),
                #[cfg(feature = "cuda")]
                DeviceChoice::Cuda => Device::cuda(index),
            })
            .collect()
    }

    /// The burn device for this choice.
    pub fn device(self) -> Device {
        match self {
            DeviceChoice::Cpu => Device::flex(),
            #[cfg(feature = "wgpu")]
            DeviceChoice::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda => Device::cuda(0),
        }
    }
}
