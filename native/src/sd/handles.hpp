// The C handles of the SD networks, shared by the C entry points of every area that works on
// the networks (sd_api.cpp, train/).
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
