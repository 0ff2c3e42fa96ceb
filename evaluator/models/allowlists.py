"""The reviewed allowlists of layer classes and graph operations, in one place.

Everything a static model check accepts is listed here and nowhere else, so a
security review of what a submission may contain reads this one file.

Rule for additions: pure numeric computation only. Nothing that touches
files, the network, Python, the clock, randomness (scores must repeat), shared
mutable state, or custom code. Every op a normal generator needs (ResNet
CycleGAN, U-Net with transposed convolutions, instance norm, AdaIN) is here;
tests/test_models_saved_model.py exports such generators and asserts the ops
they reach are a subset of these lists.
"""

from __future__ import annotations

# --- Keras (.keras config.json) ---------------------------------------------
# Keyed by the `module` field Keras 3 writes into config.json, so a class is
# accepted only from the Keras module that really defines it.
KERAS_LAYERS = frozenset({
    "InputLayer", "Input",
    "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv1DTranspose", "Conv3DTranspose",
    "DepthwiseConv2D", "SeparableConv2D", "Dense", "EinsumDense",
    "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    "RMSNormalization", "SpectralNormalization", "Normalization",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "ZeroPadding2D", "UpSampling2D", "Cropping2D", "Resizing", "Rescaling", "CenterCrop",
    "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "AveragePooling2D", "MaxPooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "Reshape", "Permute", "Flatten", "RepeatVector", "Identity",
    "MultiHeadAttention", "Attention",
})
# Symbolic keras.ops calls in a functional model are saved as op "layers".
KERAS_NUMPY_OPS = frozenset({
    "Abs", "Absolute", "Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Power", "Negative",
    "Mean", "Var", "Std", "Sum", "Max", "Min", "Amax", "Amin", "Maximum", "Minimum",
    "Sqrt", "Square", "Exp", "Log", "Log1p", "Expm1", "Tanh", "Sin", "Cos", "Reciprocal",
    "Clip", "Where", "Sign", "Floor", "Ceil", "Round",
    "Reshape", "Transpose", "Concatenate", "Stack", "Split", "ExpandDims", "Squeeze",
    "Tile", "Repeat", "Pad", "Flip", "Matmul", "Einsum", "GetItem", "Take", "Roll",
    "Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual",
    "ZerosLike", "OnesLike", "FullLike", "Average", "Hypot", "Arctan2",
})
KERAS_NN_OPS = frozenset({
    "Relu", "Relu6", "Sigmoid", "Softplus", "Softsign", "Silu", "LeakyRelu", "HardSigmoid",
    "HardSilu", "Elu", "Selu", "Gelu", "Celu", "Glu", "HardTanh", "Softmax", "LogSoftmax",
    "MaxPool", "AveragePool", "Conv", "DepthwiseConv", "SeparableConv", "ConvTranspose",
    "Moments", "BatchNorm", "Normalize", "RMSNorm", "LayerNorm", "DepthToSpace", "SpaceToDepth",
})
KERAS_IMAGE_OPS = frozenset({"Resize", "PadImages", "CropImages", "RGBToGrayscale"})
KERAS_MATH_OPS = frozenset({"Rsqrt", "Erf", "Logsumexp"})
KERAS_CORE_OPS = frozenset({"Cast", "StopGradient", "Slice", "Unstack", "ConvertToTensor"})

KERAS_INITIALIZERS = frozenset({
    "Zeros", "Ones", "Constant", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal",
    "LecunUniform", "LecunNormal", "RandomUniform", "RandomNormal", "TruncatedNormal",
    "VarianceScaling", "Orthogonal", "Identity", "IdentityInitializer", "STFT",
})
# TensorFlow's own initializers (tf.random_normal_initializer and friends, as the TensorFlow
# pix2pix and CycleGAN tutorials use them) are saved from module init_ops_v2 with their
# class name as registered_name; Keras loads each as its keras.initializers namesake. An
# initializer only fills weights when a layer is built, and the archive's weights replace them.
TF_INITIALIZERS = frozenset({
    "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal", "VarianceScaling",
    "Orthogonal", "Identity", "GlorotUniform", "GlorotNormal",
})
KERAS_REGULARIZERS = frozenset({"L1", "L2", "L1L2", "OrthogonalRegularizer"})
KERAS_CONSTRAINTS = frozenset({"MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm"})
KERAS_ACTIVATIONS = frozenset({
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "celu", "glu", "silu", "swish",
    "sigmoid", "hard_sigmoid", "hard_silu", "hard_swish", "tanh", "hard_tanh", "softplus",
    "softsign", "softmax", "log_softmax", "exponential", "mish",
})

KERAS_CLASSES: dict[str, frozenset[str]] = {
    "keras": frozenset({"DTypePolicy", "FloatDTypePolicy", "Sequential", "Functional", "Model"}),
    "keras.layers": KERAS_LAYERS,
    "keras.models": frozenset({"Sequential", "Functional", "Model"}),
    "keras.src.models.functional": frozenset({"Functional"}),
    "keras.src.models.sequential": frozenset({"Sequential"}),
    "keras.src.models.model": frozenset({"Model"}),
    "keras.src.ops.numpy": KERAS_NUMPY_OPS,
    "keras.src.ops.nn": KERAS_NN_OPS,
    "keras.src.ops.image": KERAS_IMAGE_OPS,
    "keras.src.ops.math": KERAS_MATH_OPS,
    "keras.src.ops.core": KERAS_CORE_OPS,
    "keras.initializers": KERAS_INITIALIZERS,
    "keras.regularizers": KERAS_REGULARIZERS,
    "keras.constraints": KERAS_CONSTRAINTS,
    "tensorflow.python.ops.init_ops_v2": TF_INITIALIZERS,
}
# Plain-value wrappers Keras writes with no module (tensors and constants).
KERAS_VALUE_CLASSES = frozenset({"__keras_tensor__", "__tensor__", "__numpy__"})
# Activation functions serialized as objects (rare; strings are the norm).
KERAS_FUNCTION_MODULES = frozenset({"keras.activations", "keras.src.activations.activations"})
# compile_config is never deserialized (load_model(compile=False)); its
# optimizer/loss/metric objects are accepted from these builtin modules only.
KERAS_COMPILE_MODULES = frozenset({"keras.optimizers", "keras.losses", "keras.metrics",
                                   "keras.optimizers.schedules"})
# Members a .keras archive may hold (plus files under assets/). Weights saved as
# npz are refused: an npz is itself a zip, i.e. a nested archive.
KERAS_MEMBERS = frozenset({"config.json", "metadata.json", "model.weights.h5"})

# --- TensorFlow SavedModel ----------------------------------------------------
TF_OPS = frozenset({
    # graph plumbing
    "Const", "Identity", "IdentityN", "NoOp", "Placeholder", "StopGradient",
    "StatefulPartitionedCall", "PartitionedCall",
    # variables are read, never written; VarHandleOp only names a variable the
    # SavedModel itself restores (a handle to in-process memory, no I/O)
    "ReadVariableOp", "VarHandleOp",
    # convolution and dense
    "Conv2D", "Conv2DBackpropInput", "DepthwiseConv2dNative", "Conv3D", "BiasAdd",
    "MatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum",
    "FusedBatchNormV3", "FusedBatchNorm",
    # activations
    "Relu", "Relu6", "LeakyRelu", "Elu", "Selu", "Tanh", "Sigmoid", "Softplus", "Softsign",
    "Softmax", "LogSoftmax", "Erf",
    # element-wise arithmetic
    "Add", "AddV2", "AddN", "Sub", "Mul", "MulNoNan", "RealDiv", "Div", "DivNoNan", "FloorDiv",
    "FloorMod", "Maximum", "Minimum", "Neg", "Abs", "Sign", "Reciprocal", "Inv",
    "Square", "SquaredDifference", "Sqrt", "Rsqrt", "Exp", "Log", "Log1p", "Expm1", "Pow",
    "Floor", "Ceil", "Round", "Sin", "Cos", "ClipByValue", "Select", "SelectV2",
    "Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual",
    "LogicalAnd", "LogicalOr", "LogicalNot", "IsFinite", "Cast",
    # reductions
    "Mean", "Sum", "Max", "Min", "Prod", "ArgMax", "ArgMin",
    # shapes and layout
    "Reshape", "Transpose", "ConcatV2", "Pack", "Unpack", "Split", "SplitV", "Squeeze",
    "ExpandDims", "Tile", "Fill", "ZerosLike", "OnesLike", "Shape", "ShapeN", "Size", "Rank",
    "StridedSlice", "Slice", "GatherV2", "Range", "BroadcastTo", "BroadcastArgs",
    "Pad", "PadV2", "MirrorPad", "ReverseV2", "DepthToSpace", "SpaceToDepth",
    "ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic", "ResizeArea",
    "ScaleAndTranslate", "AvgPool", "MaxPool", "Cumsum",
})
# Named in the docs and the tests: never allowed, whatever the list above says.
TF_FORBIDDEN = frozenset({
    "ReadFile", "WriteFile", "MatchingFiles", "PyFunc", "EagerPyFunc", "PyFuncStateless",
    "SaveV2", "RestoreV2", "Save", "Restore", "SaveSlices", "RestoreSlice", "MergeV2Checkpoints",
    "PrintV2", "Print", "DatasetFromGraph", "ImmutableConst", "LoadAndRemapMatrix",
    "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "DestroyResourceOp",
})
# Function-call ops whose callee is named in an attribute (the check recurses).
TF_CALL_OPS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})

# --- ONNX ---------------------------------------------------------------------
ONNX_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
ONNX_OPS = frozenset({
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum",
    "BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization",
    "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "Tanh", "Sigmoid", "HardSigmoid",
    "HardSwish", "Softplus", "Softsign", "Softmax", "LogSoftmax", "Erf", "Mish",
    "Add", "Sub", "Mul", "Div", "Pow", "Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log",
    "Min", "Max", "Mean", "Sum", "Clip", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Where",
    "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Not", "And", "Or",
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare",
    "ReduceL2",
    "Reshape", "Transpose", "Concat", "Split", "Slice", "Squeeze", "Unsqueeze", "Flatten",
    "Expand", "Tile", "Gather", "Shape", "Size", "Constant", "ConstantOfShape", "Identity",
    "Cast", "CastLike", "Range",
    "Pad", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth",
    "AveragePool", "MaxPool", "GlobalAveragePool", "GlobalMaxPool", "Dropout",
})
