// The C handles of the SD networks, shared by sd_api.cpp and the LoRA entry points.
#pragma once

#include <memory>

#include "sd/text_encoder.hpp"
#include "sd/unet.hpp"
#include "sd/vae.hpp"

struct atl_text_encoder {
    std::unique_ptr<atl::sd::TextEncoder> impl;
};
struct atl_unet {
    std::unique_ptr<atl::sd::UNet> impl;
};
struct atl_vae {
    std::unique_ptr<atl::sd::Vae> impl;
};
