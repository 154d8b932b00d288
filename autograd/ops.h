// ops.h: every differentiable op of scorch, in one include.
#pragma once
#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops/conv2d.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/group_norm.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/pool.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape.h"
#include "autograd/ops/upsample.h"
