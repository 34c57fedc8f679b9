package dev.atelier.engine.embed;

import dev.atelier.engine.util.EnumNames;
import java.util.List;
import java.util.Locale;

/**
 * torchvision's published weight sets for MobileNetV3-Large and the preprocessing each expects
 * (torchvision models/mobilenetv3.py: {@code ImageClassification(crop_size=224)} for V1,
 * {@code ImageClassification(crop_size=224, resize_size=232)} for V2).
 */
public enum ImagenetWeights {
    IMAGENET1K_V1(256),
    IMAGENET1K_V2(232);

    private final int resizeSize;

    ImagenetWeights(int resizeSize) {
        this.resizeSize = resizeSize;
    }

    /** The short side the image is resized to before the 224 centre crop. */
    public int resizeSize() {
        return resizeSize;
    }

    /** The transforms that go with these weights. */
    public ImageTransform transform() {
        return ImageTransform.imagenet(resizeSize);
    }

    /** The short CLI name: "v1", "v2". */
    public String shortName() {
        return name().substring(name().length() - 2).toLowerCase(Locale.ROOT);
    }

    /** Accepts "v1", "v2" or the full names, in any case ({@link EnumNames#parse}). */
    public static ImagenetWeights fromName(String name) {
        return EnumNames.parse(values(), w -> List.of(w.shortName(), w.name()), name, "weights");
    }
}
