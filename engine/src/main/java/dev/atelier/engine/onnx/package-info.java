/**
 * The ONNX Runtime backend of the image embedder. {@link dev.atelier.engine.onnx.MobileNetV3OnnxExport}
 * writes torchvision's MobileNetV3 as an {@code .onnx} file of Atelier's own making (the protobuf
 * is encoded by hand, BatchNorm folded into the convolutions); {@link dev.atelier.engine.onnx.OnnxImageModel}
 * runs it, or any ONNX model with one NCHW float input, through ONNX Runtime's Java API with
 * direct buffers over the callers' memory.
 */
package dev.atelier.engine.onnx;
